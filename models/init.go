package models

import (
	"math"
	"math/rand/v2"

	"github.com/taet-ml/taet/graphs"
)

// PyTorch's initialisers, as the torchvision models call them.

// kaimingNormalFanOut is nn.init.kaiming_normal_(mode="fan_out",
// nonlinearity="relu"): N(0, 2/fanOut), fanOut = out_channels·kH·kW.
func kaimingNormalFanOut(fanOut int64) graphs.InitFunc {
	return normal(math.Sqrt(2 / float64(fanOut)))
}

// normal is nn.init.normal_(std=std).
func normal(std float64) graphs.InitFunc {
	return func(rng *rand.Rand, data []float32) {
		for i := range data {
			data[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// truncNormal is nn.init.trunc_normal_(std=std) with its default bounds
// a = −2, b = 2, absolute values rather than multiples of std: draws outside
// them are redrawn.
func truncNormal(std float64) graphs.InitFunc {
	return func(rng *rand.Rand, data []float32) {
		for i := range data {
			v := rng.NormFloat64() * std
			for math.Abs(v) > 2 {
				v = rng.NormFloat64() * std
			}
			data[i] = float32(v)
		}
	}
}

// uniform fills with U(−bound, bound). nn.Linear's default initialisation
// of both weight and bias is uniform(1/√fanIn) (kaiming_uniform_ with
// a = √5 works out to that bound).
func uniform(bound float64) graphs.InitFunc {
	return func(rng *rand.Rand, data []float32) {
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

// linearDefault is nn.Linear's default: U(±1/√fanIn) for weight and bias.
func linearDefault(fanIn int64) graphs.InitFunc { return uniform(1 / math.Sqrt(float64(fanIn))) }

// xavierUniform is nn.init.xavier_uniform_: U(±√(6/(fanIn+fanOut))).
func xavierUniform(fanIn, fanOut int64) graphs.InitFunc {
	return uniform(math.Sqrt(6 / float64(fanIn+fanOut)))
}
