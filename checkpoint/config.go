package checkpoint

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/models"
)

// Stage is one phase of a fit: a loss on clean or adversarial images for a
// number of epochs.
type Stage struct {
	Name   string `json:"name"` // ce | at | bsl | hel | trades | mart | robal | reat
	Epochs int    `json:"epochs"`
}

// The stages taet knows:
//
//	ce      cross-entropy on clean images (TAET stage 1)
//	at      cross-entropy on PGD examples (Madry et al.'s AT)
//	bsl     balanced softmax on PGD examples (AT-BSL)
//	hel     the Hierarchical Equalization Loss on PGD examples (TAET stage 2)
//	trades  TRADES: CE on clean images + β·KL(clean ‖ adversarial), PGD on the KL
//	mart    MART: boosted CE on PGD examples + β·KL(clean ‖ adversarial)·(1 − p_y(clean))
//	robal   RoBal: class-aware margin loss on PGD examples + β·KL(clean ‖ adversarial)
//	reat    REAT: balanced softmax on PGD examples + the tail-feature alignment
var stageNames = []string{"ce", "at", "bsl", "hel", "trades", "mart", "robal", "reat"}

// Adversarial reports whether the stage's steps need PGD examples: all but
// ce (the paired stages train on them beside the clean batch).
func (s Stage) Adversarial() bool { return s.Name != "ce" }

// Loss returns the name of the stage's training loss in package losses:
// ce for ce and at, balanced-softmax for bsl, hel for hel and reat for
// reat (losses.ByName), trades, mart and robal (losses.PairByName, see
// Paired).
func (s Stage) Loss() string {
	return map[string]string{"ce": "ce", "at": "ce", "bsl": "balanced-softmax", "hel": "hel", "trades": "trades", "mart": "mart",
		"robal": "robal", "reat": "reat"}[s.Name]
}

// Paired reports whether the stage's loss sees the clean batch and its PGD
// examples in one step (trades, mart, robal), not the PGD examples only.
func (s Stage) Paired() bool { return s.Name == "trades" || s.Name == "mart" || s.Name == "robal" }

// AttackLoss returns the attack loss (ortoracle.LossHead) the stage's
// training PGD ascends: kl (from the clean batch's predictions) for
// trades, as its authors' code does, else ce.
func (s Stage) AttackLoss() string {
	if s.Name == "trades" {
		return "kl"
	}
	return "ce"
}

// ParseStage parses "NAME" or "NAME:EPOCHS"; epochs default to def.
func ParseStage(s string, def int) (Stage, error) {
	name, ep, hasEp := strings.Cut(s, ":")
	st := Stage{Name: name, Epochs: def}
	if !contains(stageNames, name) {
		return st, fmt.Errorf("stage %q: want one of %s, optionally with :EPOCHS", s, strings.Join(stageNames, ", "))
	}
	if hasEp {
		n, err := strconv.Atoi(ep)
		if err != nil || n <= 0 {
			return st, fmt.Errorf("stage %q: epochs must be a positive integer", s)
		}
		st.Epochs = n
	}
	if st.Epochs <= 0 {
		return st, fmt.Errorf("stage %q: give its epochs as %s:EPOCHS", s, name)
	}
	return st, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PGDStart is how PGD initialises the adversarial example.
type PGDStart string

const (
	StartNone     PGDStart = "none"     // x itself
	StartUniform  PGDStart = "uniform"  // x + U(−ε, ε)
	StartNormal   PGDStart = "normal"   // x + 0.001·N(0, 1), the TAET authors' code
	StartPositive PGDStart = "positive" // x + ε·U(0, 1), the RoBal authors' code
)

// PGD configures the training attack: L∞ projected gradient ascent on the
// mean cross-entropy, BatchNorm in inference mode.
type PGD struct {
	Eps   float64  `json:"eps"`
	Step  float64  `json:"step"`
	Steps int      `json:"steps"`
	Start PGDStart `json:"start"`
}

// HEL configures the Hierarchical Equalization Loss (see package losses).
type HEL struct {
	Alpha   float64 `json:"alpha"`
	Beta    float64 `json:"beta"`
	Gamma   float64 `json:"gamma"`
	Variant string  `json:"variant"` // all-classes (the authors' code) | present-classes (the paper's text)
}

// TRADES configures the trades stage's loss (see package losses).
type TRADES struct {
	Beta float64 `json:"beta"` // weight of the KL term, 6 in the authors' CIFAR-10 script
}

// MART configures the mart stage's loss (see package losses).
type MART struct {
	Beta float64 `json:"beta"` // weight of the weighted KL term, 6 in mart.py
}

// RoBal configures the robal stage and the inference-time adjustment of a
// model trained with it (see losses.RoBalMargin and losses.RoBalAdjustment).
type RoBal struct {
	S    float64 `json:"s"`     // scale of the cosine logits in the loss and the adjustment
	M    float64 `json:"m"`     // uniform margin
	TauM float64 `json:"tau_m"` // class-aware margin τ_m
	TauB float64 `json:"tau_b"` // training prior bias τ_b
	TauP float64 `json:"tau_p"` // inference prior bias τ_p
	Beta float64 `json:"beta"`  // weight of the TRADES term
}

// REAT configures the reat stage (see losses.REAT).
type REAT struct {
	Tail float64 `json:"tail"` // weight of the tail-feature alignment term
}

// Optimizer is SGD with momentum and weight decay (PyTorch semantics) and a
// multi-step learning-rate schedule.
type Optimizer struct {
	LR          float64 `json:"lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	Milestones  []int   `json:"milestones"` // epochs (0-based, counted over all stages) at which LR is multiplied by Gamma
	Gamma       float64 `json:"gamma"`
}

// LRAt returns the learning rate of epoch e.
func (o Optimizer) LRAt(e int) float64 {
	lr := o.LR
	for _, m := range o.Milestones {
		if e >= m {
			lr *= o.Gamma
		}
	}
	return lr
}

// Config is the full, resolved description of a fit. It is stored in every
// checkpoint, so a resumed run continues with exactly the same settings.
type Config struct {
	Method    string    `json:"method"` // the preset the stages came from, or "custom"
	Dataset   string    `json:"dataset"`
	DataPath  string    `json:"data_path"`
	IR        float64   `json:"imbalance_ratio"`
	NMax      int       `json:"n_max"` // images of the head class; 0 = all the data set has
	Seed      uint64    `json:"seed"`
	Model     string    `json:"model"`
	Width     float64   `json:"width"`
	Stages    []Stage   `json:"stages"`
	Optimizer Optimizer `json:"optimizer"`
	Batch     int       `json:"batch"`
	PGD       PGD       `json:"pgd"`
	HEL       HEL       `json:"hel"`
	BSLTau    float64   `json:"bsl_tau"`
	TRADES    TRADES    `json:"trades"`
	MART      MART      `json:"mart"`
	// Head is the classifier (models.Head; the zero value is nn.Linear).
	Head     models.Head `json:"head"`
	RoBal    RoBal       `json:"robal"`
	REAT     REAT        `json:"reat"`
	Augment  bool        `json:"augment"`
	EvalSize int         `json:"eval_size"` // held-out test images scored after each epoch
	Threads  int         `json:"threads"`
	Device   string      `json:"device"`
	// CPUKernels is "onednn", "blocked" or "standard" (what the run's CPU
	// sessions used), or "" for the default (onednn where oneDNN loads, else
	// blocked): how CPU sessions run convolutions (ort.CPUKernels).
	CPUKernels string `json:"cpu_kernels,omitempty"`
}

// Epochs returns the total number of epochs over all stages.
func (c Config) Epochs() int {
	n := 0
	for _, s := range c.Stages {
		n += s.Epochs
	}
	return n
}

// HasStage reports whether one of the stages is called name.
func (c Config) HasStage(name string) bool {
	for _, s := range c.Stages {
		if s.Name == name {
			return true
		}
	}
	return false
}

// StageAt returns the stage that epoch e (0-based) belongs to.
func (c Config) StageAt(e int) Stage {
	for _, s := range c.Stages {
		if e < s.Epochs {
			return s
		}
		e -= s.Epochs
	}
	return c.Stages[len(c.Stages)-1]
}

// Validate reports the first number or stage that cannot work. The
// settings spelled as names (the PGD start, the HEL variant, the device,
// the model) are parsed, and reported, where they are used (train.Resolve).
func (c Config) Validate() error {
	for name, v := range map[string]float64{"imbalance ratio": c.IR, "width": c.Width, "lr": c.Optimizer.LR,
		"momentum": c.Optimizer.Momentum, "weight decay": c.Optimizer.WeightDecay, "lr gamma": c.Optimizer.Gamma,
		"pgd eps": c.PGD.Eps, "pgd step": c.PGD.Step, "hel alpha": c.HEL.Alpha, "hel beta": c.HEL.Beta,
		"hel gamma": c.HEL.Gamma, "bsl tau": c.BSLTau, "trades beta": c.TRADES.Beta, "mart beta": c.MART.Beta,
		"head scale": c.Head.Scale, "head gamma": c.Head.Gamma,
		"robal s": c.RoBal.S, "robal m": c.RoBal.M, "robal tau_m": c.RoBal.TauM, "robal tau_b": c.RoBal.TauB,
		"robal tau_p": c.RoBal.TauP, "robal beta": c.RoBal.Beta, "reat tail": c.REAT.Tail} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s %v: must be a finite number", name, v)
		}
	}
	switch {
	case len(c.Stages) == 0:
		return fmt.Errorf("no stages: give a method's preset or at least one stage")
	case c.Batch <= 0:
		return fmt.Errorf("batch %d: must be positive", c.Batch)
	case c.IR < 1:
		return fmt.Errorf("imbalance ratio %v: must be ≥ 1", c.IR)
	case c.NMax < 0:
		return fmt.Errorf("n-max %d: must be ≥ 0 (0 = all images of the head class)", c.NMax)
	case c.Width <= 0:
		return fmt.Errorf("width %v: must be positive", c.Width)
	case c.Optimizer.LR <= 0:
		return fmt.Errorf("lr %v: must be positive", c.Optimizer.LR)
	case c.Optimizer.Momentum < 0 || c.Optimizer.Momentum >= 1:
		return fmt.Errorf("momentum %v: must be in [0, 1)", c.Optimizer.Momentum)
	case c.Optimizer.WeightDecay < 0:
		return fmt.Errorf("weight decay %v: must be ≥ 0", c.Optimizer.WeightDecay)
	case c.PGD.Eps < 0 || c.PGD.Eps > 1 || c.PGD.Step < 0 || c.PGD.Steps < 0:
		return fmt.Errorf("pgd: eps %v and step %v must be in [0, 1], steps %d ≥ 0", c.PGD.Eps, c.PGD.Step, c.PGD.Steps)
	case c.EvalSize < 0:
		return fmt.Errorf("eval size %d: must be ≥ 0", c.EvalSize)
	case c.TRADES.Beta < 0 || c.MART.Beta < 0 || c.RoBal.Beta < 0:
		return fmt.Errorf("trades beta %v, mart beta %v and robal beta %v: must be ≥ 0", c.TRADES.Beta, c.MART.Beta, c.RoBal.Beta)
	case c.HasStage("robal") && c.RoBal.S <= 0:
		return fmt.Errorf("robal s %v: must be positive", c.RoBal.S)
	}
	for _, s := range c.Stages {
		if _, err := ParseStage(fmt.Sprintf("%s:%d", s.Name, s.Epochs), 0); err != nil {
			return err
		}
	}
	return nil
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Stage       string  `json:"stage"`
	Epoch       int     `json:"epoch"` // 0-based, over all stages
	LR          float64 `json:"lr"`
	TrainLoss   float64 `json:"train_loss"`
	CleanBAcc   float64 `json:"clean_bacc"`  // balanced accuracy on the evaluation subset
	RobustBAcc  float64 `json:"robust_bacc"` // balanced robustness under the training PGD
	CleanAcc    float64 `json:"clean_acc"`
	RobustAcc   float64 `json:"robust_acc"`
	Seconds     float64 `json:"seconds"`      // wall time of the epoch's training steps
	ImgPerSec   float64 `json:"img_per_s"`    // training images per second
	GoOverhead  float64 `json:"go_overhead"`  // share of step time spent outside ONNX Runtime
	EvalSeconds float64 `json:"eval_seconds"` // wall time of the evaluation
	EvalImages  int     `json:"eval_images"`  // images scored; 0: no evaluation, the four metrics above are meaningless
}
