// Package testenv decides what a test does when something it needs (ONNX
// Runtime, the ONNX checker, Debian's Fashion-MNIST) is not installed: it
// skips on a developer's machine, and fails where the environment variable
// CI is set, so a CI run can never go green with those tests skipped.
package testenv

import (
	"os"
	"testing"
)

// Missing skips t with the message, or fails it when CI is set.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this test may not skip: "+format, args...)
	}
	t.Skipf(format, args...)
}
