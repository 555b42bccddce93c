package data

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// npyWithHeader returns a version-1 .npy file with header h and data.
func npyWithHeader(h string, data []byte) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(h)))
	return append(append(b, h...), data...)
}

func TestParseNPYHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  string
		data    []byte
		descr   string
		shape   []int
		wantErr string
	}{
		{"numpy.save", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }          \n", make([]byte, 8), "<i8", []int{1}, ""},
		{"any key order", "{'shape': (2, 3), 'fortran_order': False, 'descr': '|u1'}\n", make([]byte, 6), "|u1", []int{2, 3}, ""},
		{"double quotes", `{"descr": "|u1", "fortran_order": False, "shape": (2,)}`, make([]byte, 2), "|u1", []int{2}, ""},
		{"python 2 longs", "{'descr': '|u1', 'fortran_order': False, 'shape': (2L, 1L), }", make([]byte, 2), "|u1", []int{2, 1}, ""},
		{"scalar", "{'descr': '>f8', 'fortran_order': False, 'shape': (), }", make([]byte, 8), ">f8", []int{}, ""},
		{"empty array", "{'descr': '<u4', 'fortran_order': True, 'shape': (0, 5), }", nil, "<u4", []int{0, 5}, ""},
		{"missing key", "{'descr': '|u1', 'shape': (1,)}", []byte{0}, "", nil, "keys [descr shape]: want descr, fortran_order and shape"},
		{"repeated key", "{'descr': '|u1', 'descr': '|u1'}", nil, "", nil, `key "descr" repeated`},
		{"unknown key", "{'descr': '|u1', 'strides': (1,)}", nil, "", nil, `unknown key "strides"`},
		{"structured", "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}", nil, "", nil, "structured dtype"},
		{"lower-case bool", "{'descr': '|u1', 'fortran_order': false, 'shape': (1,)}", nil, "", nil, "want True or False"},
		{"negative size", "{'descr': '|u1', 'fortran_order': False, 'shape': (-1,)}", nil, "", nil, "want a dimension size"},
		{"huge size", "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999,)}", nil, "", nil, "want a dimension size"},
		{"missing comma", "{'descr': '|u1' 'fortran_order': False}", nil, "", nil, "want ',' or '}'"},
		{"tuple without comma", "{'descr': '|u1', 'fortran_order': False, 'shape': (1 2)}", nil, "", nil, "want ',' or ')'"},
		{"text after", "{'descr': '|u1', 'fortran_order': False, 'shape': (1,)} x", []byte{0}, "", nil, "unexpected text after the dict"},
		{"unterminated", "{'descr': '|u1", nil, "", nil, "unterminated or escaped string"},
		{"escape", `{'descr': '\x75'}`, nil, "", nil, "unterminated or escaped string"},
		{"no brace", "('descr', '|u1')", nil, "", nil, "want '{'"},
		{"string kind", "{'descr': '<U8', 'fortran_order': False, 'shape': (1,)}", nil, "", nil, `descr "<U8": unsupported dtype`},
		{"float16", "{'descr': '<f2', 'fortran_order': False, 'shape': (1,)}", nil, "", nil, `descr "<f2": unsupported dtype`},
		{"no byte order", "{'descr': 'i8', 'fortran_order': False, 'shape': (1,)}", nil, "", nil, `descr "i8": want byte order`},
		{"| on int64", "{'descr': '|i8', 'fortran_order': False, 'shape': (1,)}", nil, "", nil, "'|' (no byte order) on a multi-byte type"},
		{"truncated data", "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}", make([]byte, 5), "", nil, "truncated: shape [3] of <i2 needs more than the 5 data bytes present"},
		{"trailing data", "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}", make([]byte, 7), "", nil, "1 trailing bytes after the 6 data bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := parseNPY("x.npy", npyWithHeader(tc.header, tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "x.npy: offset ") {
					t.Errorf("error %v, want x.npy: offset N: ...%s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.descr != tc.descr || !slices.Equal(a.shape, tc.shape) {
				t.Errorf("descr %s shape %v, want %s %v", a.descr, a.shape, tc.descr, tc.shape)
			}
		})
	}
}

func TestParseNPYVersions(t *testing.T) {
	h := "{'descr': '|u1', 'fortran_order': False, 'shape': (2,)}"
	v2 := append([]byte("\x93NUMPY\x02\x00"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(v2[8:], uint32(len(h)))
	v2 = append(append(v2, h...), 5, 6)
	if a, err := parseNPY("v2.npy", v2); err != nil || !slices.Equal(a.data, []byte{5, 6}) {
		t.Errorf("version 2: %v, %v", a, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"version 4", []byte("\x93NUMPY\x04\x00\x00\x00"), "format version 4.0"},
		{"no magic", []byte("PK\x03\x04 not npy"), "no .npy magic"},
		{"short v2", []byte("\x93NUMPY\x02\x00\x00\x00"), "ends inside the header length"},
		{"short header", []byte("\x93NUMPY\x01\x00\xff\x00{}"), "ends inside the 255-byte header"},
	} {
		if _, err := parseNPY("x.npy", tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestNPYInt64s(t *testing.T) {
	for _, tc := range []struct {
		descr string
		data  []byte
		want  []int64
		err   string
	}{
		{"|u1", []byte{0, 255}, []int64{0, 255}, ""},
		{"|i1", []byte{0x80, 0x7f}, []int64{-128, 127}, ""},
		{"|b1", []byte{1, 0}, []int64{1, 0}, ""},
		{"<i2", []byte{0xfe, 0xff, 1, 2}, []int64{-2, 0x201}, ""},
		{">u2", []byte{1, 2, 0xff, 0xff}, []int64{0x102, 65535}, ""},
		{">i4", []byte{0xff, 0xff, 0xff, 0xfd, 0, 0, 1, 0}, []int64{-3, 256}, ""},
		{"<u4", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, []int64{1<<32 - 1, 0}, ""},
		{"<i8", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0, 0, 0, 0}, []int64{-1, 9}, ""},
		{">u8", []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, "element 0: 9223372036854775808 does not fit int64"},
		{"<f4", make([]byte, 8), nil, "want an integer type"},
	} {
		t.Run(tc.descr, func(t *testing.T) {
			h := "{'descr': '" + tc.descr + "', 'fortran_order': False, 'shape': (2,)}"
			a, err := parseNPY("x.npy", npyWithHeader(h, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.int64s()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		size  int
	}{
		{"2x3", []int{2, 3}, 1},
		{"2x3x4 int16", []int{2, 3, 4}, 2},
		{"3x1x2x5", []int{3, 1, 2, 5}, 1},
		{"4x0", []int{4, 0}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			for _, d := range tc.shape {
				n *= d
			}
			// Element with C index i holds i (low byte first); place it at its Fortran offset.
			fortran := make([]byte, n*tc.size)
			want := make([]byte, n*tc.size)
			for i := range n {
				rem, off, stride := i, 0, 1
				cStrides := make([]int, len(tc.shape))
				s := 1
				for k := len(tc.shape) - 1; k >= 0; k-- {
					cStrides[k] = s
					s *= tc.shape[k]
				}
				for k := range tc.shape {
					off += rem / cStrides[k] * stride
					rem %= cStrides[k]
					stride *= tc.shape[k]
				}
				for j := range tc.size {
					fortran[off*tc.size+j] = byte(i >> (8 * j))
					want[i*tc.size+j] = byte(i >> (8 * j))
				}
			}
			if got := cOrder(fortran, tc.shape, tc.size); !slices.Equal(got, want) {
				t.Errorf("cOrder = %v, want %v", got, want)
			}
		})
	}
}
