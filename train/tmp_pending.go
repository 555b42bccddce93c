package train

// Temporary until the attacks and eval packages land: the same contracts.

import (
	"math/rand/v2"

	"github.com/taet-ml/taet/attacks"
)

type pgdConfig struct {
	Eps, Step float64
	Steps     int
	Start     PGDStart
}

func attacksPGD(o attacks.Oracle, x []float32, y []int64, c pgdConfig, rng *rand.Rand, adv []float32) error {
	copy(adv, x)
	eps := float32(c.Eps)
	for i := range adv {
		switch c.Start {
		case StartUniform:
			adv[i] += eps * (2*rng.Float32() - 1)
		case StartNormal:
			adv[i] += 0.001 * float32(rng.NormFloat64())
		}
		adv[i] = min(max(adv[i], 0), 1)
	}
	logits := make([]float32, o.Batch()*o.Classes())
	grad := make([]float32, len(x))
	for range c.Steps {
		if err := o.Eval(adv, y, nil, logits, grad); err != nil {
			return err
		}
		for i, g := range grad {
			s := float32(0)
			if g > 0 {
				s = 1
			} else if g < 0 {
				s = -1
			}
			v := adv[i] + float32(c.Step)*s
			v = min(max(v, x[i]-eps), x[i]+eps)
			adv[i] = min(max(v, 0), 1)
		}
	}
	return nil
}

type report struct{ Balanced, Accuracy float64 }

func evalEvaluate(pred, truth []int64, k int) report {
	hit, n := make([]float64, k), make([]float64, k)
	var r report
	for i, t := range truth {
		n[t]++
		if pred[i] == t {
			hit[t]++
			r.Accuracy++
		}
	}
	r.Accuracy /= float64(len(truth))
	c := 0.0
	for j := range k {
		if n[j] > 0 {
			r.Balanced += hit[j] / n[j]
			c++
		}
	}
	r.Balanced /= c
	return r
}
