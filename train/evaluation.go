package train

import (
	"context"
	"fmt"
	"time"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/evaluate"
)

// evaluate scores the evaluation subset with evaluate's runner: clean
// predictions and predictions on PGD examples (the training attack,
// verified), as balanced accuracies. A cancelled ctx stops it within one
// attack iteration with ctx's error.
func (f *fitter) evaluate(ctx context.Context, m *EpochMetrics) error {
	if f.evalSet == nil {
		return nil
	}
	start := time.Now()
	tgt := f.evalTarget()
	defer tgt.Close()
	r := evaluate.Runner{Target: tgt, Test: f.evalSet, Attacks: []attacks.Spec{{Name: "pgd", Attack: f.pgd}},
		Seed: f.cfg.Seed ^ evalAttackSeedMix, Batch: f.cfg.Batch}
	res, err := r.Run(ctx)
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	rc, rr := res.Clean.Report, res.Attacks[0].Report
	m.CleanBAcc, m.CleanAcc = rc.Balanced, rc.Accuracy
	m.RobustBAcc, m.RobustAcc = rr.Balanced, rr.Accuracy
	m.EvalSeconds, m.EvalImages = time.Since(start).Seconds(), f.evalSet.N
	return nil
}
