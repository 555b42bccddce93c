package losses_test

import (
	"fmt"

	"github.com/taet-ml/taet/losses"
)

// The HEL formula on a batch of three samples over three classes, with
// per-sample losses ℓ = (0.5, 1, 2) and labels (0, 0, 2): class 1 is
// absent, so L = (0.75, 0, 2). AllClasses averages over all three classes,
// PresentClasses over classes 0 and 2. The numbers come from the plain-Go
// reference the graph is tested against.
func ExampleHEL() {
	l := []float64{0.5, 1, 2}
	y := []int64{0, 0, 2}
	for _, v := range []losses.HELVariant{losses.AllClasses, losses.PresentClasses} {
		hel, perClass := refHELOfLosses(l, y, 3, losses.HELOpts{Alpha: 0.1, Beta: 0.1, Gamma: 0.1, Variant: v})
		fmt.Printf("%-15v L_c = %.2f  HEL = %.6f\n", v, perClass, hel)
	}
	// Output:
	// all-classes     L_c = [0.75 0.00 2.00]  HEL = 0.220053
	// present-classes L_c = [0.75 0.00 2.00]  HEL = 0.236893
}

func ExampleByName() {
	_, err := losses.ByName("focal", losses.Options{})
	fmt.Println(err)
	_, err = losses.ByName("bsl", losses.Options{})
	fmt.Println(err)
	// Output:
	// losses: unknown loss "focal" (valid: ce, balanced-softmax, hel, cw, dlr, dlr-targeted, margin-targeted, kl, reat; bsl is balanced-softmax)
	// losses: balanced-softmax needs the class counts
}
