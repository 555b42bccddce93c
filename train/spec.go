package train

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/losses"
	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/ort"
)

// Spec is a fit with everything resolved: the network, the data, the loss
// of each stage, the training attack and the runtime options. Resolve
// makes one from a Config, parsing each of its strings once; a Go program
// can also fill one in with a network and data set of its own.
type Spec struct {
	// Config goes into every checkpoint. FitSpec reads its Method,
	// Stages, Optimizer, Batch, Seed and Augment; the rest records where
	// the other fields came from.
	Config Config
	// Net builds the classifier: [N, C, H, W] images → [N, K] logits.
	Net graphs.Net
	// Train is the (long-tailed) training set and Split how it was drawn
	// (Resolve's record for resuming; zero for a data set of your own).
	Train *data.Dataset
	Split data.SplitRecord
	// Eval, if not nil, is scored after every epoch: clean balanced
	// accuracy and balanced robustness under PGD.
	Eval *data.Dataset
	// Losses are the training loss of each unpaired stage, by stage name
	// (ce, at, bsl, hel, reat; see package losses).
	Losses map[string]graphs.LossHead
	// PairLosses are the paired loss of each paired stage (trades, mart, robal;
	// Stage.Paired), by stage name: the step sees the clean batch and its
	// PGD examples.
	PairLosses map[string]*graphs.PairHead
	// PGD is the training attack of the adversarial stages and of the
	// per-epoch evaluation.
	PGD attacks.PGD
	// Runtime are the session options (threads, device).
	Runtime ort.Options
}

// ErrConfig is wrapped by Resolve's errors about a setting that cannot work.
var ErrConfig = errors.New("bad fit configuration")

// The per-epoch evaluation's randomness: the PCG stream of its subset of
// the test split, and the value xor-ed into Config.Seed to seed its
// attack's random starts.
const (
	streamEvalSubset  uint64 = 0xE7A1
	evalAttackSeedMix uint64 = 0xE7A1
)

// Resolve checks cfg and resolves it: loads the training split of
// cfg.Dataset and makes it long-tailed, picks cfg.EvalSize test images,
// builds cfg.Model for the data's classes and image size and the loss of
// every stage. Errors about a setting wrap ErrConfig, about the data ErrData.
func Resolve(cfg Config) (*Spec, error) { return resolve(cfg, nil) }

// resolve is Resolve; with a split record (resuming) it rebuilds that
// split instead of drawing one.
func resolve(cfg Config, split *data.SplitRecord) (*Spec, error) {
	if err := check(cfg); err != nil {
		return nil, err
	}
	dev, err := ort.ParseDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("%w: device: %w", ErrConfig, err)
	}
	kernels, err := ort.ParseCPUKernels(cfg.CPUKernels)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	start, err := attacks.ParseStart(string(cfg.PGD.Start))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Spec{Config: cfg, Runtime: ort.Options{Threads: cfg.Threads, Device: dev, Kernels: kernels},
		PGD: attacks.PGD{Eps: cfg.PGD.Eps, Alpha: cfg.PGD.Step, Steps: cfg.PGD.Steps, Start: start}}
	if err := s.loadData(split); err != nil {
		return nil, err
	}
	if s.Net, err = models.ByName(cfg.Model, models.Options{Classes: s.Train.Classes, ImageSize: s.Train.H, Width: cfg.Width, Head: cfg.Head}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	counts := data.ClassCounts(s.Train.Labels, s.Train.Classes)
	if s.Losses, err = StageLosses(cfg, counts); err != nil {
		return nil, err
	}
	if s.PairLosses, err = StagePairLosses(cfg, counts); err != nil {
		return nil, err
	}
	return s, nil
}

// check is what Resolve checks before it loads anything: the numbers, the
// thread count and the names of the model and data set.
func check(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := ort.CheckThreads(cfg.Threads); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !slices.Contains(models.Names(), cfg.Model) {
		return fmt.Errorf("%w: model %q: want one of %s", ErrConfig, cfg.Model, strings.Join(models.Names(), ", "))
	}
	if data.Splits(cfg.Dataset) == nil {
		return fmt.Errorf("%w: data set %q: want one of %s, or %s<flag>", ErrConfig, cfg.Dataset, strings.Join(data.Names(), ", "), data.MedMNISTPrefix)
	}
	if _, err := ort.ParseDevice(cfg.Device); err != nil {
		return fmt.Errorf("%w: device: %w", ErrConfig, err)
	}
	if _, err := attacks.ParseStart(string(cfg.PGD.Start)); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := losses.ParseHELVariant(cfg.HEL.Variant); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	dev, _ := ort.ParseDevice(cfg.Device)
	for _, st := range cfg.Stages {
		if err := checkStageDevice(st, dev); err != nil {
			return err
		}
	}
	return nil
}

// checkStageDevice returns an error wrapping ErrConfig if stage cannot
// train on dev: the paired stages have no device-resident step yet.
func checkStageDevice(stage Stage, dev ort.Device) error {
	if stage.Paired() && deviceResident(dev) {
		return fmt.Errorf("%w: stage %s on %s: the paired stages (trades, mart, robal) train on the CPU only so far", ErrConfig, stage.Name, dev)
	}
	return nil
}

// StageLosses returns the training loss of each of cfg's unpaired stages
// (all but trades, mart and robal, see StagePairLosses), by stage name,
// for training classes of counts images (the balanced softmax, HEL and
// REAT weigh by them), with cfg's BSL τ, HEL weights and variant and REAT
// weight. Errors wrap ErrConfig.
func StageLosses(cfg Config, counts []int) (map[string]graphs.LossHead, error) {
	variant, err := losses.ParseHELVariant(cfg.HEL.Variant)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	o := losses.Options{
		ClassCounts: counts, Tau: float32(cfg.BSLTau),
		HEL:  losses.HELOpts{Alpha: float32(cfg.HEL.Alpha), Beta: float32(cfg.HEL.Beta), Gamma: float32(cfg.HEL.Gamma), Variant: variant},
		REAT: losses.REATOpts{Tail: float32(cfg.REAT.Tail)},
	}
	out := map[string]graphs.LossHead{}
	for _, st := range cfg.Stages {
		if st.Paired() {
			continue // StagePairLosses
		}
		if out[st.Name], err = losses.ByName(st.Loss(), o); err != nil {
			return nil, fmt.Errorf("%w: stage %s: %w", ErrConfig, st.Name, err)
		}
	}
	return out, nil
}

// StagePairLosses returns the paired loss of each of cfg's paired stages
// (trades, mart, robal), by stage name, with cfg's β and RoBal settings,
// for training classes of counts images (RoBal's margins and prior bias
// weigh by them). Errors wrap ErrConfig.
func StagePairLosses(cfg Config, counts []int) (map[string]*graphs.PairHead, error) {
	r := cfg.RoBal
	o := losses.Options{TRADESBeta: float32(cfg.TRADES.Beta), MARTBeta: float32(cfg.MART.Beta), ClassCounts: counts,
		RoBal: losses.RoBalOpts{S: float32(r.S), M: float32(r.M), TauM: float32(r.TauM), TauB: float32(r.TauB), TauP: float32(r.TauP), Beta: float32(r.Beta)}}
	out := map[string]*graphs.PairHead{}
	for _, st := range cfg.Stages {
		if !st.Paired() {
			continue
		}
		head, err := losses.PairByName(st.Loss(), o)
		if err != nil {
			return nil, fmt.Errorf("%w: stage %s: %w", ErrConfig, st.Name, err)
		}
		out[st.Name] = head
	}
	return out, nil
}

// loadData reads the training split and makes it long-tailed (or rebuilds
// the recorded split), and picks the evaluation subset.
func (s *Spec) loadData(split *data.SplitRecord) error {
	cfg := s.Config
	full, err := data.Load(cfg.Dataset, cfg.DataPath, "train")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrData, err)
	}
	if split != nil {
		s.Train, s.Split = nil, *split
		if s.Train, err = split.Rebuild(full); err != nil {
			return fmt.Errorf("%w: %w", ErrData, err)
		}
	} else if s.Train, s.Split, err = data.LongTail(full, cfg.IR, cfg.NMax, cfg.Seed); err != nil {
		return fmt.Errorf("%w: %w", ErrData, err)
	}
	if cfg.EvalSize > 0 {
		test, err := data.Load(cfg.Dataset, cfg.DataPath, "test")
		if err != nil {
			return fmt.Errorf("%w: %w", ErrData, err)
		}
		if !slices.Equal(test.Shape(), full.Shape()) {
			return fmt.Errorf("%w: %s: test images are %v, training images %v (C, H, W): want one size", ErrData, cfg.DataPath, test.Shape(), full.Shape())
		}
		idx := rand.New(rand.NewPCG(cfg.Seed, streamEvalSubset)).Perm(test.N)
		s.Eval = test.Subset(idx[:min(cfg.EvalSize, test.N)])
	}
	return nil
}
