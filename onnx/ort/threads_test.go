package ort_test

import (
	"os"
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

func TestAvailableMemory(t *testing.T) {
	got := ort.AvailableMemory()
	if _, err := os.Stat("/proc/meminfo"); err == nil && (got < 1<<20 || got > 1<<50) {
		t.Errorf("AvailableMemory() = %d bytes: want a plausible amount, from /proc/meminfo here", got)
	}
}
