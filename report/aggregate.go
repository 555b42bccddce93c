package report

import (
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
)

// TrainingLabel is the label of the statistics of the fits themselves
// (Config.Training), in report.csv and the tables.
const TrainingLabel = "(training)"

// Stat is a statistic over the seeds of a configuration: the mean, the
// sample standard deviation Std = √(Σ(x−Mean)²/(N−1)) (NaN, null in JSON,
// when N < 2: one seed says nothing about the spread) and N, the number of
// runs that have the value.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

// NewStat returns the Stat of xs; the mean is NaN when xs is empty.
func NewStat(xs []float64) Stat {
	s := Stat{Mean: math.NaN(), Std: math.NaN(), N: len(xs)}
	if len(xs) == 0 {
		return s
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// RunValue is one run's value of a metric.
type RunValue struct {
	Run   string  `json:"run"`
	Seed  string  `json:"seed"`
	Value float64 `json:"value"`
}

// Metric is one quantity aggregated over a configuration's seeds.
// In JSON: {"metric", "mean", "std" (null when n < 2), "n", "runs"}.
type Metric struct {
	// Name is "clean_bacc", "robust_bacc/<attack>", "tail_recall/clean",
	// "tail_recall/<attack>", "fit_seconds", "eval_seconds",
	// "total_seconds"; for TrainingLabel "epochs", "final_clean_bacc",
	// "final_robust_bacc" (on the fit's held-out subset, under its PGD).
	Name string
	Stat
	Runs []RunValue
}

// MarshalJSON writes NaN as null.
func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string     `json:"metric"`
		Mean *float64   `json:"mean"`
		Std  *float64   `json:"std"`
		N    int        `json:"n"`
		Runs []RunValue `json:"runs"`
	}{m.Name, finite(m.Mean), finite(m.Std), m.N, m.Runs})
}

// Label is the statistics of one evaluation (eval/<Label>.json) of a
// configuration's runs.
type Label struct {
	Label   string   `json:"label"`
	Metrics []Metric `json:"metrics"`
	// Recall is the per-class recall per attack ("clean" first), averaged
	// over the runs (NaN where no run had test images of the class), with
	// the names and mean training counts of the classes.
	Recall      []ClassRecall `json:"per_class_recall"`
	ClassNames  []string      `json:"class_names,omitempty"`
	TrainCounts []float64     `json:"train_counts,omitempty"`
}

// ClassRecall is an attack's per-class recall averaged over runs.
type ClassRecall struct {
	Attack string    `json:"attack"`
	Recall []float64 `json:"recall"` // NaN (null) for classes without test images
}

// MarshalJSON writes NaN recalls as null.
func (c ClassRecall) MarshalJSON() ([]byte, error) {
	r := make([]*float64, len(c.Recall))
	for i, x := range c.Recall {
		r[i] = finite(x)
	}
	return json.Marshal(struct {
		Attack string     `json:"attack"`
		Recall []*float64 `json:"recall"`
	}{c.Attack, r})
}

// Metric returns the label's metric of that name, if any.
func (l *Label) Metric(name string) (Metric, bool) {
	for _, m := range l.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Label returns the statistics of c's evaluation label, nil if none.
func (c *Config) Label(label string) *Label {
	for i := range c.Labels {
		if c.Labels[i].Label == label {
			return &c.Labels[i]
		}
	}
	return nil
}

// Band is a per-epoch quantity over seeds: the mean and the range.
type Band struct {
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	N    int     `json:"n"`
}

// EpochStat is one epoch of a configuration's training curves. Clean and
// Robust have N = 0 when no run scored that epoch.
type EpochStat struct {
	Epoch     int    `json:"epoch"` // 0-based
	Stage     string `json:"stage"`
	TrainLoss Band   `json:"train_loss"`
	CleanBAcc Band   `json:"clean_bacc"`
	Robust    Band   `json:"robust_bacc"`
}

// Config is one configuration: the runs that differ only in their seed.
type Config struct {
	Name     string            `json:"name"`
	Method   string            `json:"method"`
	Values   map[string]string `json:"values"`
	Runs     []*Run            `json:"-"`
	RunNames []string          `json:"runs"`
	Training []Metric          `json:"training"`
	Labels   []Label           `json:"evaluations"`
	Curves   []EpochStat       `json:"curves"`
	// StageEnds are the epochs (1-based counts) after which a stage ends
	// and another begins.
	StageEnds []int `json:"stage_ends,omitempty"`
}

// Missing is what one run lacks (Run.Missing).
type Missing struct {
	Run  string   `json:"run"`
	Dir  string   `json:"dir"`
	What []string `json:"missing"`
}

// Report is the aggregate of a set of runs.
type Report struct {
	Title   string    `json:"title"`
	Configs []*Config `json:"configurations"`
	Missing []Missing `json:"missing,omitempty"`
}

// Aggregate groups runs by Run.Config, in the order they first appear, and
// computes every configuration's statistics over its runs.
func Aggregate(title string, runs []*Run) *Report {
	rep := &Report{Title: title}
	byName := map[string]*Config{}
	for _, r := range runs {
		c := byName[r.Config]
		if c == nil {
			c = &Config{Name: r.Config, Method: r.Method, Values: r.Values}
			byName[r.Config] = c
			rep.Configs = append(rep.Configs, c)
		}
		c.Runs = append(c.Runs, r)
		c.RunNames = append(c.RunNames, r.Name)
		if m := r.Missing(); len(m) > 0 {
			rep.Missing = append(rep.Missing, Missing{Run: r.Name, Dir: r.Dir, What: m})
		}
	}
	for _, c := range rep.Configs {
		c.aggregate()
	}
	return rep
}

// aggregate fills in c's statistics from c.Runs.
func (c *Config) aggregate() {
	var labels []string
	for _, r := range c.Runs {
		for _, l := range r.Labels {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		for _, l := range slices.Sorted(maps.Keys(r.Records)) {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
	}
	c.Training = collect(c.Runs, func(r *Run, add func(string, float64)) {
		if !r.Finished() || len(r.State.Metrics) == 0 { // a checkpoint without metrics is not taet's, but no reason to crash
			return
		}
		ms := r.State.Metrics
		add("epochs", float64(len(ms)))
		add("fit_seconds", fitSeconds(r))
		if last := ms[len(ms)-1]; last.EvalImages > 0 {
			add("final_clean_bacc", last.CleanBAcc)
			add("final_robust_bacc", last.RobustBAcc)
		}
	})
	for _, l := range labels {
		c.Labels = append(c.Labels, c.label(l))
	}
	c.curves()
}

// fitSeconds is a run's fit wall time: each epoch's training and
// evaluation seconds, summed.
func fitSeconds(r *Run) float64 {
	s := 0.0
	for _, m := range r.State.Metrics {
		s += m.Seconds + m.EvalSeconds
	}
	return s
}

// label aggregates the evaluation records named l.
func (c *Config) label(l string) Label {
	out := Label{Label: l}
	out.Metrics = collect(c.Runs, func(r *Run, add func(string, float64)) {
		rec, ok := r.Records[l]
		if !ok {
			return
		}
		add("clean_bacc", rec.Results[0].Balanced)
		for _, a := range rec.Results[1:] {
			add("robust_bacc/"+a.Attack, a.Balanced)
		}
		evalSeconds := 0.0
		for _, a := range rec.Results {
			add("tail_recall/"+a.Attack, a.TailRecall)
			evalSeconds += a.Seconds
		}
		if r.Finished() {
			add("fit_seconds", fitSeconds(r))
		}
		add("eval_seconds", evalSeconds)
		if r.Finished() {
			add("total_seconds", fitSeconds(r)+evalSeconds)
		}
	})
	// Per-class recall and training counts, averaged over the runs.
	sums := map[string][]float64{}
	ns := map[string][]int{}
	var counts []float64
	nCounts := 0
	for _, r := range c.Runs {
		rec, ok := r.Records[l]
		if !ok {
			continue
		}
		if out.ClassNames == nil {
			out.ClassNames = rec.ClassNames
		}
		for _, a := range rec.Results {
			if _, ok := sums[a.Attack]; !ok {
				sums[a.Attack], ns[a.Attack] = make([]float64, len(a.Recall)), make([]int, len(a.Recall))
				out.Recall = append(out.Recall, ClassRecall{Attack: a.Attack})
			}
			for i, x := range a.Recall {
				if i < len(sums[a.Attack]) && !math.IsNaN(x) {
					sums[a.Attack][i] += x
					ns[a.Attack][i]++
				}
			}
		}
		if len(rec.TrainCounts) > 0 && (counts == nil || len(counts) == len(rec.TrainCounts)) {
			if counts == nil {
				counts = make([]float64, len(rec.TrainCounts))
			}
			for i, n := range rec.TrainCounts {
				counts[i] += float64(n)
			}
			nCounts++
		}
	}
	for i := range out.Recall {
		a := out.Recall[i].Attack
		out.Recall[i].Recall = make([]float64, len(sums[a]))
		for j := range sums[a] {
			out.Recall[i].Recall[j] = sums[a][j] / float64(ns[a][j]) // NaN when 0/0
		}
	}
	for i := range counts {
		counts[i] /= float64(nCounts)
	}
	out.TrainCounts = counts
	return out
}

// collect runs each run through values, which adds named values, and
// returns a Metric per name in the order first added. A NaN value (a tail
// recall without tail test images) is no value: n counts the runs that
// have one.
func collect(runs []*Run, values func(r *Run, add func(string, float64))) []Metric {
	var out []Metric
	for _, r := range runs {
		values(r, func(name string, x float64) {
			if math.IsNaN(x) {
				return
			}
			i := slices.IndexFunc(out, func(m Metric) bool { return m.Name == name })
			if i < 0 {
				i = len(out)
				out = append(out, Metric{Name: name})
			}
			out[i].Runs = append(out[i].Runs, RunValue{Run: r.Name, Seed: r.Seed, Value: x})
		})
	}
	for i := range out {
		xs := make([]float64, len(out[i].Runs))
		for j, v := range out[i].Runs {
			xs[j] = v.Value
		}
		out[i].Stat = NewStat(xs)
	}
	return out
}

// curves computes the per-epoch training curves over c's runs.
func (c *Config) curves() {
	for _, r := range c.Runs {
		if r.State == nil {
			continue
		}
		if c.StageEnds == nil {
			end := 0
			for _, s := range r.State.Config.Stages[:max(0, len(r.State.Config.Stages)-1)] {
				end += s.Epochs
				c.StageEnds = append(c.StageEnds, end)
			}
		}
		for _, m := range r.State.Metrics {
			for len(c.Curves) <= m.Epoch {
				c.Curves = append(c.Curves, EpochStat{Epoch: len(c.Curves)})
			}
			e := &c.Curves[m.Epoch]
			e.Stage = cmp.Or(e.Stage, m.Stage)
			e.TrainLoss.add(m.TrainLoss)
			if m.EvalImages > 0 {
				e.CleanBAcc.add(m.CleanBAcc)
				e.Robust.add(m.RobustBAcc)
			}
		}
	}
	for i := range c.Curves {
		for _, b := range []*Band{&c.Curves[i].TrainLoss, &c.Curves[i].CleanBAcc, &c.Curves[i].Robust} {
			if b.N > 0 {
				b.Mean /= float64(b.N)
			}
		}
	}
}

// add adds x to the band; the mean is a sum until curves divides it.
func (b *Band) add(x float64) {
	if b.N == 0 || x < b.Min {
		b.Min = x
	}
	if b.N == 0 || x > b.Max {
		b.Max = x
	}
	b.Mean += x
	b.N++
}

// RobustAttack returns the attack whose balanced robustness the figures
// show: the first PGD of the record, else its first attack; "" when the
// label has no attack.
func (l *Label) RobustAttack() string {
	var first string
	for _, r := range l.Recall[min(1, len(l.Recall)):] {
		if strings.HasPrefix(r.Attack, "pgd") {
			return r.Attack
		}
		first = cmp.Or(first, r.Attack)
	}
	return first
}
