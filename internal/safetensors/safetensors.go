// Package safetensors reads and writes float32 tensors in the safetensors
// format (https://github.com/huggingface/safetensors), which PyTorch users
// load with safetensors.torch.load_file. taet's checkpoints and the
// parameter export use it.
//
// Layout: an 8-byte little-endian header length n, n bytes of JSON mapping
// each tensor name to {"dtype": "F32", "shape": [...], "data_offsets":
// [begin, end]} (offsets into the data section) plus an optional
// "__metadata__" object of strings, then the data section: the tensors'
// little-endian bytes, back to back.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Tensor is one named float32 tensor.
type Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header, as the reference implementation does (100 MB).
const maxHeader = 100 << 20

// Encode serialises tensors, in the given order, with metadata.
func Encode(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if t.Name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		}
		if _, dup := header[t.Name]; dup {
			return nil, fmt.Errorf("safetensors: tensor %q twice", t.Name)
		}
		if n := numel(t.Shape); n != int64(len(t.Data)) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, has %d", t.Name, t.Shape, n, len(t.Data))
		}
		size := 4 * int64(len(t.Data))
		header[t.Name] = entry{"F32", nonNil(t.Shape), [2]int64{off, off + size}}
		off += size
	}
	h, err := json.Marshal(header) // map keys are sorted: deterministic
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 { // the reference pads the header with spaces to 8-byte alignment
		h = append(h, ' ')
	}
	out := make([]byte, 8, 8+len(h)+int(off))
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, t := range tensors {
		for _, f := range t.Data {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
		}
	}
	return out, nil
}

func nonNil(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}

// Decode parses a safetensors file's bytes. Tensors come back sorted by
// their data offset (the order they were written in). Only F32 tensors are
// accepted.
func Decode(b []byte) ([]Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: %d bytes, too short for the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds the file (%d bytes)", n, len(b))
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b[8 : 8+n]))
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	data := b[8+n:]
	var meta map[string]string
	var tensors []Tensor
	var offsets [][2]int64
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		if e.DType != "F32" {
			return nil, nil, fmt.Errorf("safetensors: tensor %q has dtype %s, want F32", name, e.DType)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) || end-begin != 4*numel(e.Shape) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: offsets [%d, %d] do not fit shape %v in %d data bytes",
				name, begin, end, e.Shape, len(data))
		}
		t := Tensor{Name: name, Shape: e.Shape, Data: make([]float32, (end-begin)/4)}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[begin+4*int64(i):]))
		}
		tensors = append(tensors, t)
		offsets = append(offsets, e.Offsets)
	}
	idx := make([]int, len(tensors))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(offsets[a][0] - offsets[b][0]) })
	sorted := make([]Tensor, len(tensors))
	for i, j := range idx {
		sorted[i] = tensors[j]
	}
	return sorted, meta, nil
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}
