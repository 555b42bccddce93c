package ort_test

import (
	"testing"

	"github.com/taet-ml/taet/onnx/ort"
)

func TestCheckThreads(t *testing.T) {
	for _, n := range []int{0, 1, ort.MaxThreads()} {
		if err := ort.CheckThreads(n); err != nil {
			t.Errorf("CheckThreads(%d): %v", n, err)
		}
	}
	for _, n := range []int{-1, ort.MaxThreads() + 1, 1000 * ort.AvailableCPUs()} {
		if err := ort.CheckThreads(n); err == nil {
			t.Errorf("CheckThreads(%d) accepted it (max %d)", n, ort.MaxThreads())
		}
	}
}
