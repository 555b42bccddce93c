package ort_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// TestSessionsShareTheCPUArena opens two sessions of y = (2·x) + 1 on a
// [4096, 4096] x, whose intermediate 2·x takes 64 MiB from the arena, and
// runs them one after the other with both open: the second run reuses the
// memory the first left in the shared arena, where an arena of its own
// would add 64 MiB to the resident set.
func TestSessionsShareTheCPUArena(t *testing.T) {
	ortest.Init(t)
	const n, mib = 4096, 1 << 20
	m, err := graphs.Build("affine", func(b *graphs.Builder) {
		x := b.Input("x", onnx.Float, n, n)
		b.Output("y", graphs.Add(graphs.Mul(x, b.Scalar(2)), b.Scalar(1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	model, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ort.NewZeros[float32](n, n)
	y, _ := ort.NewZeros[float32](n, n)
	defer x.Close()
	defer y.Close()
	var rss []int64
	for range 2 {
		s, err := ort.NewSession(model, m.InputNames(), m.OutputNames(), ort.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Run([]ort.Value{x}, []ort.Value{y}); err != nil {
			t.Fatal(err)
		}
		rss = append(rss, residentBytes(t))
	}
	t.Logf("resident after the first session's run %d MiB, after the second's %d MiB", rss[0]/mib, rss[1]/mib)
	if grew := rss[1] - rss[0]; grew > 32*mib {
		t.Errorf("the second session's run added %d MiB to the resident set: it should reuse the 64 MiB the first left in the shared arena", grew/mib)
	}
}

// residentBytes returns the process's resident set (VmRSS, Linux).
func residentBytes(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if kib, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kib), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
