package safetensors_test

import (
	"reflect"
	"testing"

	"github.com/taet-ml/taet/internal/safetensors"
)

func TestRoundTrip(t *testing.T) {
	in := []safetensors.Tensor{
		{Name: "conv1.weight", Shape: []int64{2, 1, 1, 2}, Data: []float32{1, -2, 3.5, 4}},
		{Name: "bn1.running_mean", Shape: []int64{2}, Data: []float32{0.25, 0}},
		{Name: "step", Shape: []int64{}, Data: []float32{7}},
	}
	meta := map[string]string{"epoch": "3"}
	b, err := safetensors.Encode(in, meta)
	if err != nil {
		t.Fatal(err)
	}
	out, gotMeta, err := safetensors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) || !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("round trip: got %v %v, want %v %v", out, gotMeta, in, meta)
	}
	if hl := int(b[0]) | int(b[1])<<8; hl%8 != 0 {
		t.Errorf("header length %d not 8-byte aligned", hl)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good, _ := safetensors.Encode([]safetensors.Tensor{{Name: "w", Shape: []int64{2}, Data: []float32{1, 2}}}, nil)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header too long", append([]byte{0xff, 0xff, 0xff, 0, 0, 0, 0, 0}, good[8:]...)},
		{"truncated data", good[:len(good)-1]},
		{"not json", append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "xxxx"...)},
	} {
		if _, _, err := safetensors.Decode(tc.b); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := safetensors.Encode([]safetensors.Tensor{{Name: "w", Shape: []int64{2}, Data: []float32{1, 2}}}, map[string]string{"a": "b"})
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		safetensors.Decode(b) // must not panic
	})
}
