package data

import (
	"fmt"
	"slices"
	"testing"
)

func TestAugmentInto(t *testing.T) {
	for _, tc := range []struct{ c, h, w, pad int }{
		{2, 5, 6, 2},
		{3, 8, 8, 4},
		{1, 3, 4, 7}, // padding beyond the image: some crops are all zeros
		{1, 4, 4, 0},
	} {
		src := make([]float32, tc.c*tc.h*tc.w)
		for i := range src {
			src[i] = float32(i + 1)
		}
		dst := make([]float32, len(src))
		for dy := range 2*tc.pad + 1 {
			for dx := range 2*tc.pad + 1 {
				for _, flip := range []bool{false, true} {
					name := fmt.Sprintf("%dx%dx%d/pad%d/dy%d/dx%d/flip=%v", tc.c, tc.h, tc.w, tc.pad, dy, dx, flip)
					for i := range dst {
						dst[i] = -1 // every element must be written
					}
					augmentInto(dst, src, tc.c, tc.h, tc.w, tc.pad, dy, dx, flip)
					if want := AugmentReference(src, tc.c, tc.h, tc.w, tc.pad, dy, dx, flip); !slices.Equal(dst, want) {
						t.Errorf("%s:\n got %v\nwant %v", name, dst, want)
					}
				}
			}
		}
	}
}

func TestSourceIntN(t *testing.T) {
	s := newSource(1, 2)
	for _, n := range []int{1, 2, 9, 1 << 40} {
		for range 1000 {
			if v := s.intN(n); v < 0 || v >= n {
				t.Fatalf("intN(%d) = %d", n, v)
			}
		}
	}
	// Every value of a small range turns up, about equally often.
	var hist [9]int
	for range 9000 {
		hist[s.intN(9)]++
	}
	for v, c := range hist {
		if c < 850 || c > 1150 {
			t.Errorf("intN(9) gave %d %d times in 9000 draws", v, c)
		}
	}
}
