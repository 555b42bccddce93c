package data

import (
	"math/bits"
	"math/rand/v2"
)

// Streams separate the random sequences drawn from one run seed, so that
// long-tail sampling and each epoch's shuffle and augmentation never share
// draws.
const (
	streamLongTail uint64 = 0x6c6f6e677461696c // "longtail"
	streamEpoch    uint64 = 0x65706f6368000000 // "epoch", xor-ed with the epoch
)

// source is a PCG-DXSM generator (math/rand/v2's PCG) with the two bounded
// draws this package needs. They are written out here rather than taken
// from rand.Rand so that a split or an epoch drawn today is drawn the same
// by any later Go release, or by another language reimplementing the
// documented algorithm.
type source struct{ pcg *rand.PCG }

// newSource returns the generator rand.NewPCG(seed, stream).
func newSource(seed, stream uint64) source { return source{rand.NewPCG(seed, stream)} }

// intN returns a uniform integer in [0, n), n ≥ 1, by Lemire's
// multiply-and-reject method on 64-bit draws.
func (s source) intN(n int) int {
	bound := uint64(n)
	for {
		hi, lo := bits.Mul64(s.pcg.Uint64(), bound)
		if lo >= bound || lo >= -bound%bound {
			return int(hi)
		}
	}
}

// shuffle permutes p uniformly with the Fisher–Yates algorithm, swapping
// p[i] with p[intN(i+1)] for i = len(p)−1 down to 1.
func (s source) shuffle(p []int) {
	for i := len(p) - 1; i > 0; i-- {
		j := s.intN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}
