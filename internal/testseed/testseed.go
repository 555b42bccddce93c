// Package testseed gives randomised tests their seed: a fixed default, or
// TAET_TEST_SEED when set, logged when the test fails so it can be repeated.
package testseed

import (
	"os"
	"strconv"
	"testing"
)

// Default is the seed tests use unless TAET_TEST_SEED overrides it.
const Default = 20250611

// Get returns TAET_TEST_SEED if set, else def, and arranges for the seed to
// be logged if t fails. A malformed TAET_TEST_SEED fails t.
func Get(t testing.TB, def uint64) uint64 {
	t.Helper()
	seed := def
	if s := os.Getenv("TAET_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TAET_TEST_SEED=%q: want an unsigned integer", s)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (set TAET_TEST_SEED to repeat or change it)", seed)
		}
	})
	return seed
}
