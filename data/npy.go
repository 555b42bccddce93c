package data

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// npyArray is a decoded .npy array.
type npyArray struct {
	file  string           // for messages
	descr string           // the dtype as written: "|u1", "<i8", ">f4", ...
	kind  byte             // 'b' bool, 'i' signed integer, 'u' unsigned integer, 'f' float
	size  int              // bytes per element
	order binary.ByteOrder // of multi-byte elements
	shape []int
	data  []byte // the elements in C (row-major) order
}

// parseNPY parses the .npy file b, named file in messages. The format:
//
//	"\x93NUMPY", major version (1, 2 or 3), minor version,
//	header length: uint16 little-endian (version 1) or uint32 (2, 3),
//	header: a Python dict literal {'descr': '<i8', 'fortran_order': False, 'shape': (N, 28, 28)}
//	        padded with spaces to an aligned length,
//	the elements: prod(shape) · itemsize bytes, row-major unless fortran_order.
//
// Accepted dtypes are bool (b1), signed and unsigned integers (i1 to i8,
// u1 to u8) and float32/64 (f4, f8) in either byte order. Fortran-order
// data is reordered to C order. Trailing bytes are an error.
func parseNPY(file string, b []byte) (*npyArray, error) {
	const magic = "\x93NUMPY"
	if len(b) < len(magic)+4 || string(b[:len(magic)]) != magic {
		return nil, formatErrorf(file, 0, "no .npy magic: want \\x93NUMPY, major and minor version, header length")
	}
	var hlen, start int
	switch major := b[6]; major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, formatErrorf(file, int64(len(b)), "file ends inside the header length")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return nil, formatErrorf(file, 6, "format version %d.%d: want 1.0, 2.0 or 3.0", major, b[7])
	}
	if hlen > len(b)-start {
		return nil, formatErrorf(file, int64(len(b)), "file ends inside the %d-byte header", hlen)
	}
	a := &npyArray{file: file}
	h := npyHeader{s: string(b[start : start+hlen]), file: file, base: int64(start)}
	var fortran bool
	var err error
	if a.descr, fortran, a.shape, err = h.parse(); err != nil {
		return nil, err
	}
	if err := a.setDType(int64(start)); err != nil {
		return nil, err
	}
	data := b[start+hlen:]
	n, ok := 1, true
	for _, d := range a.shape {
		if d != 0 && n > len(data)/a.size/d {
			ok = false
		}
		n *= d
	}
	if !ok || n*a.size != len(data) {
		if !ok || n*a.size > len(data) {
			return nil, formatErrorf(file, int64(len(b)), "truncated: shape %v of %s needs more than the %d data bytes present", a.shape, a.descr, len(data))
		}
		return nil, formatErrorf(file, int64(start+hlen+n*a.size), "%d trailing bytes after the %d data bytes of shape %v of %s",
			len(data)-n*a.size, n*a.size, a.shape, a.descr)
	}
	a.data = data
	if fortran && len(a.shape) > 1 {
		a.data = cOrder(data, a.shape, a.size)
	}
	return a, nil
}

// setDType sets kind, size and order from descr (at header offset off).
func (a *npyArray) setDType(off int64) error {
	d := a.descr
	bad := func(why string) error {
		return formatErrorf(a.file, off, "descr %q: %s", d, why)
	}
	if len(d) < 3 || !strings.ContainsRune("<>|=", rune(d[0])) {
		return bad("want byte order, kind and size, as in '<i8'")
	}
	a.kind = d[1]
	size, err := strconv.Atoi(d[2:])
	if err != nil {
		return bad("want byte order, kind and size, as in '<i8'")
	}
	a.size = size
	switch {
	case a.kind == 'b' && size == 1:
	case (a.kind == 'i' || a.kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8):
	case a.kind == 'f' && (size == 4 || size == 8):
	default:
		return bad("unsupported dtype: want bool, int8 to int64, uint8 to uint64, float32 or float64")
	}
	switch {
	case d[0] == '>':
		a.order = binary.BigEndian
	case d[0] == '|' && size > 1:
		return bad("'|' (no byte order) on a multi-byte type")
	default: // '<'; '|' on single bytes; '=' (native), which numpy never writes, read as '<'
		a.order = binary.LittleEndian
	}
	return nil
}

// cOrder returns the elements of a Fortran-order (column-major) array of
// the given shape, size bytes each, in C (row-major) order.
func cOrder(data []byte, shape []int, size int) []byte {
	out := make([]byte, len(data))
	stride := make([]int, len(shape)) // Fortran strides, in elements
	s := 1
	for k, d := range shape {
		stride[k] = s
		s *= d
	}
	idx := make([]int, len(shape))
	src := 0 // Fortran offset of idx
	for dst := 0; dst < len(out); dst += size {
		copy(out[dst:dst+size], data[src*size:(src+1)*size])
		for k := len(shape) - 1; k >= 0; k-- { // next idx in C order
			idx[k]++
			src += stride[k]
			if idx[k] < shape[k] {
				break
			}
			src -= stride[k] * shape[k]
			idx[k] = 0
		}
	}
	return out
}

// int64s returns the elements of an integer or bool array as int64.
func (a *npyArray) int64s() ([]int64, error) {
	if a.kind == 'f' {
		return nil, formatErrorf(a.file, -1, "dtype %s: want an integer type", a.descr)
	}
	out := make([]int64, len(a.data)/a.size)
	for i := range out {
		e := a.data[i*a.size : (i+1)*a.size]
		var u uint64
		switch a.size {
		case 1:
			u = uint64(e[0])
		case 2:
			u = uint64(a.order.Uint16(e))
		case 4:
			u = uint64(a.order.Uint32(e))
		default:
			u = a.order.Uint64(e)
		}
		switch {
		case a.kind != 'i': // unsigned or bool
			if u > math.MaxInt64 {
				return nil, formatErrorf(a.file, -1, "element %d: %d does not fit int64", i, u)
			}
			out[i] = int64(u)
		case a.size == 1:
			out[i] = int64(int8(u))
		case a.size == 2:
			out[i] = int64(int16(u))
		case a.size == 4:
			out[i] = int64(int32(u))
		default:
			out[i] = int64(u)
		}
	}
	return out, nil
}

// npyHeader parses the Python dict literal of a .npy header.
type npyHeader struct {
	s    string
	i    int
	file string
	base int64 // file offset of s
}

func (h *npyHeader) errf(format string, args ...any) error {
	return formatErrorf(h.file, h.base+int64(h.i), "header: "+format, args...)
}

func (h *npyHeader) skipSpace() {
	for h.i < len(h.s) && strings.IndexByte(" \t\r\n", h.s[h.i]) >= 0 {
		h.i++
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (h *npyHeader) next() byte {
	h.skipSpace()
	if h.i == len(h.s) {
		return 0
	}
	return h.s[h.i]
}

func (h *npyHeader) expect(c byte) error {
	if h.next() != c {
		return h.errf("want %q", c)
	}
	h.i++
	return nil
}

// parse reads {'descr': str, 'fortran_order': bool, 'shape': tuple}: the
// three keys once each, in any order, nothing else.
func (h *npyHeader) parse() (descr string, fortran bool, shape []int, err error) {
	if err := h.expect('{'); err != nil {
		return "", false, nil, err
	}
	seen := map[string]bool{}
	for h.next() != '}' {
		key, err := h.str()
		if err != nil {
			return "", false, nil, err
		}
		if seen[key] {
			return "", false, nil, h.errf("key %q repeated", key)
		}
		seen[key] = true
		if err := h.expect(':'); err != nil {
			return "", false, nil, err
		}
		switch key {
		case "descr":
			if h.next() == '[' {
				return "", false, nil, h.errf("structured dtype: want a plain one such as '<i8'")
			}
			descr, err = h.str()
		case "fortran_order":
			fortran, err = h.bool()
		case "shape":
			shape, err = h.tuple()
		default:
			return "", false, nil, h.errf("unknown key %q: want descr, fortran_order, shape", key)
		}
		if err != nil {
			return "", false, nil, err
		}
		if h.next() == ',' {
			h.i++
		} else if h.next() != '}' {
			return "", false, nil, h.errf("want ',' or '}'")
		}
	}
	h.i++
	if h.next() != 0 {
		return "", false, nil, h.errf("unexpected text after the dict")
	}
	if len(seen) != 3 {
		return "", false, nil, h.errf("keys %v: want descr, fortran_order and shape", slices.Sorted(maps.Keys(seen)))
	}
	return descr, fortran, shape, nil
}

// str reads a quoted string without escapes.
func (h *npyHeader) str() (string, error) {
	q := h.next()
	if q != '\'' && q != '"' {
		return "", h.errf("want a quoted string")
	}
	end := strings.IndexByte(h.s[h.i+1:], q)
	if end < 0 || strings.IndexByte(h.s[h.i+1:h.i+1+end], '\\') >= 0 {
		return "", h.errf("unterminated or escaped string")
	}
	s := h.s[h.i+1 : h.i+1+end]
	h.i += end + 2
	return s, nil
}

func (h *npyHeader) bool() (bool, error) {
	h.skipSpace()
	switch {
	case strings.HasPrefix(h.s[h.i:], "True"):
		h.i += 4
		return true, nil
	case strings.HasPrefix(h.s[h.i:], "False"):
		h.i += 5
		return false, nil
	}
	return false, h.errf("want True or False")
}

// tuple reads a tuple of non-negative integers, each optionally suffixed
// with L (Python 2): (), (5,), (5, 28, 28).
func (h *npyHeader) tuple() ([]int, error) {
	if err := h.expect('('); err != nil {
		return nil, err
	}
	shape := []int{}
	for h.next() != ')' {
		j := h.i
		for j < len(h.s) && h.s[j] >= '0' && h.s[j] <= '9' {
			j++
		}
		v, err := strconv.Atoi(h.s[h.i:j])
		if err != nil || v > math.MaxInt32 {
			return nil, h.errf("want a dimension size (0 to %d)", math.MaxInt32)
		}
		shape = append(shape, v)
		h.i = j
		if h.i < len(h.s) && h.s[h.i] == 'L' {
			h.i++
		}
		if h.next() == ',' {
			h.i++
		} else if h.next() != ')' {
			return nil, h.errf("want ',' or ')'")
		}
	}
	h.i++
	return shape, nil
}
