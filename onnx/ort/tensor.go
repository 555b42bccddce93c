package ort

import (
	"fmt"

	ortgo "github.com/yalue/onnxruntime_go"
)

// Elem is an element type a Tensor can hold: float32 for images, parameters
// and gradients, int64 for labels and indices, bool for masks.
type Elem interface{ ~float32 | ~int64 | ~bool }

// Value is a runtime value that can be passed to Session.Run.
type Value interface {
	ortValue() ortgo.Value
	Close() error
}

// Tensor is a dense tensor whose elements live in a Go slice shared with
// the runtime: writes to Data are seen by the next Run, and outputs the
// runtime writes are read from Data without a copy.
type Tensor[T Elem] struct {
	t *ortgo.Tensor[T]
}

// NewTensor wraps data (not copied) as a tensor of the given shape. data
// must have exactly the shape's element count. Rank-0 shapes are rejected
// (onnxruntime_go cannot wrap them): give scalars shape [1] and reshape in
// the graph.
func NewTensor[T Elem](shape []int64, data []T) (*Tensor[T], error) {
	if err := checkInit(); err != nil {
		return nil, err
	}
	if n := numel(shape); n != int64(len(data)) {
		return nil, fmt.Errorf("ort: tensor of shape %v needs %d elements, got %d", shape, n, len(data))
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("ort: rank-0 tensors are not supported; use shape [1]")
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("ort: tensor of shape %v is empty; the runtime cannot wrap an empty slice", shape)
	}
	t, err := ortgo.NewTensor(ortgo.NewShape(shape...), data)
	if err != nil {
		return nil, fmt.Errorf("ort: new tensor %v: %w", shape, err)
	}
	return &Tensor[T]{t}, nil
}

// NewZeros allocates a zero-filled tensor of the given shape.
func NewZeros[T Elem](shape ...int64) (*Tensor[T], error) {
	return NewTensor(shape, make([]T, numel(shape)))
}

// Data returns the tensor's elements in row-major order (the wrapped slice).
func (t *Tensor[T]) Data() []T { return t.t.GetData() }

// Shape returns a copy of the tensor's shape.
func (t *Tensor[T]) Shape() []int64 { return []int64(t.t.GetShape().Clone()) }

// Close releases the runtime's handle; the Go slice stays valid.
func (t *Tensor[T]) Close() error { return t.t.Destroy() }

func (t *Tensor[T]) ortValue() ortgo.Value { return t.t }

// numel returns the number of elements of shape (1 for a scalar).
func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
