package train

import (
	"maps"
	"slices"
	"testing"

	"github.com/taet-ml/taet/internal/ortest"
	"github.com/taet-ml/taet/internal/synthdata"
)

// TestFinishedStagesCloseTheirSessions builds the sessions of a ce:1, hel:2
// fit and requires closeFinishedStages to keep both before the first epoch
// and only HEL's from the second on: the CE session's memory must not stay
// beside HEL's for the rest of the run.
func TestFinishedStagesCloseTheirSessions(t *testing.T) {
	ortest.Init(t)
	cfg, err := Preset("taet")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dataset, cfg.DataPath = "fashion-mnist", synthdata.FashionIDX(t, 400, 12)
	cfg.IR, cfg.NMax, cfg.Width, cfg.Batch, cfg.EvalSize, cfg.Threads = 2, 40, 1.0/16, 16, 0, 1
	cfg.Stages = []Stage{{Name: "ce", Epochs: 1}, {Name: "hel", Epochs: 2}}
	spec, err := Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := newFitter(spec, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for epoch, want := range [][]string{{"ce", "hel"}, {"hel"}, {"hel"}} {
		f.closeFinishedStages(epoch)
		if open := slices.Sorted(maps.Keys(f.steps)); !slices.Equal(open, want) {
			t.Errorf("epoch %d: open training sessions %v, want %v", epoch, open, want)
		}
	}
}
