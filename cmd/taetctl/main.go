// Command taetctl builds, trains, evaluates and exports adversarially robust
// classifiers for long-tailed data (TAET, CVPR 2025). Run `taetctl --help`.
package main

import (
	"os"

	"github.com/taet-ml/taet/train"
)

func main() {
	ctx, stop := signalContext()
	train.Version = version
	g := &globalOptions{}
	err := newApp(g).RunContext(ctx, os.Args)
	code := exitCode(ctx, err) // before stop(), which cancels ctx
	stop()
	if code != 0 {
		newPrinter(*g, os.Stdout, os.Stderr).exitError(code, err)
	}
	os.Exit(code)
}
