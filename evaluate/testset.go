package evaluate

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/taet-ml/taet/data"
)

// streamTestSubset is the PCG stream of the seeded Limit subset.
const streamTestSubset uint64 = 0x11317

// TestSetOptions say which test images to attack.
type TestSetOptions struct {
	// Dataset and Path name the data set (data.Load); "" takes the
	// target's, then data.DefaultPath.
	Dataset, Path string
	// IR long-tails the test split with this imbalance ratio (data.LongTail);
	// ≤ 1 keeps it as it is.
	IR float64
	// Limit, if positive, keeps a seeded subset of this many images.
	Limit int
	// Seed seeds the long tail and the subset.
	Seed uint64
}

// ErrData is wrapped by errors about the test data.
var ErrData = errors.New("evaluation data error")

// LoadTestSet reads the test split the options name, long-tails it and
// takes the subset. It must match the target's classes and image shape.
// Every error wraps ErrData.
func LoadTestSet(t *Target, o TestSetOptions) (*data.Dataset, error) {
	if o.Dataset == "" {
		o.Dataset = t.Dataset
	}
	if o.Path == "" {
		o.Path = t.DataPath
	}
	if o.Path == "" {
		o.Path = data.DefaultPath(o.Dataset)
	}
	if o.Dataset == "" || o.Path == "" {
		return nil, fmt.Errorf("%w: the target does not say which data set it was trained on: name the data set and its path", ErrData)
	}
	test, err := data.Load(o.Dataset, o.Path, "test")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	if err := test.Matches(t.Classes, t.Image); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrData, err)
	}
	if o.IR > 1 {
		if test, _, err = data.LongTail(test, o.IR, 0, o.Seed); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrData, err)
		}
	}
	if o.Limit > 0 && o.Limit < test.N {
		test = test.Subset(rand.New(rand.NewPCG(o.Seed, streamTestSubset)).Perm(test.N)[:o.Limit])
	}
	return test, nil
}
