package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/taet-ml/taet/evaluate"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure is a PNG of the report.
type Figure struct {
	File  string `json:"file"` // relative to the report directory
	Title string `json:"title"`
	PNG   []byte `json:"-"`
}

// RecordRecallPNG draws one evaluation record's per-class clean recall and
// its recall under robust as bars, with the training class counts over
// them, like the paper's Figure 1 (what taetctl eval --plot writes).
func RecordRecallPNG(rec evaluate.Record, robust evaluate.AttackRecord) ([]byte, error) {
	counts := make([]float64, len(rec.TrainCounts))
	for i, n := range rec.TrainCounts {
		counts[i] = float64(n)
	}
	return recallPNG(fmt.Sprintf("%s: per-class recall, clean vs %s", rec.Model, robust.Attack), rec.ClassNames, counts,
		ClassRecall{Attack: "clean", Recall: rec.Results[0].Recall}, ClassRecall{Attack: robust.Attack, Recall: robust.Recall})
}

// recallPNG draws per-class clean and robust recall as bars and the
// training class counts, scaled to [0, 1] by the largest, as a line over
// them (left out when counts does not have one per class).
func recallPNG(title string, names []string, counts []float64, clean, robust ClassRecall) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "recall"
	p.Y.Min, p.Y.Max = 0, 1.05
	w := vg.Points(12)
	values := func(r []float64) plotter.Values {
		v := make(plotter.Values, len(r))
		for i, x := range r {
			if !math.IsNaN(x) {
				v[i] = x
			}
		}
		return v
	}
	cb, err := plotter.NewBarChart(values(clean.Recall), w)
	if err != nil {
		return nil, err
	}
	rb, err := plotter.NewBarChart(values(robust.Recall), w)
	if err != nil {
		return nil, err
	}
	cb.Offset, rb.Offset = -w/2, w/2
	cb.Color, rb.Color = plotutil.Color(0), plotutil.Color(1)
	cb.LineStyle.Width, rb.LineStyle.Width = 0, 0
	p.Add(cb, rb)
	p.Legend.Add("clean", cb)
	p.Legend.Add(robust.Attack, rb)
	if len(counts) == len(clean.Recall) {
		top := 0.0
		for _, n := range counts {
			top = max(top, n)
		}
		pts := make(plotter.XYs, len(counts))
		for i, n := range counts {
			pts[i] = plotter.XY{X: float64(i), Y: n / top}
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(2)
		p.Add(line)
		p.Legend.Add("training images (scaled)", line)
	}
	labels := make([]string, len(clean.Recall))
	for i := range labels {
		labels[i] = strconv.Itoa(i)
		if i < len(names) {
			labels[i] = names[i]
		}
	}
	p.NominalX(labels...)
	p.Legend.Top = true
	return renderPNG(p, 9*vg.Inch, 5*vg.Inch)
}

// renderPNG renders p as a PNG of the given size.
func renderPNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// spread is points with error bars: (X, Y) ± (XLow/XHigh, YLow/YHigh),
// the errors as distances from the point.
type spread []struct{ X, Y, XLow, XHigh, YLow, YHigh float64 }

func (s spread) Len() int                        { return len(s) }
func (s spread) XY(i int) (float64, float64)     { return s[i].X, s[i].Y }
func (s spread) XError(i int) (float64, float64) { return s[i].XLow, s[i].XHigh }
func (s spread) YError(i int) (float64, float64) { return s[i].YLow, s[i].YHigh }

// curvesPNG draws a configuration's training curves in three panels (train
// loss, clean balanced accuracy, PGD balanced robustness per epoch): the
// mean over seeds, error bars from the lowest to the highest seed, and a
// dashed line where a stage ends.
func curvesPNG(c *Config) ([]byte, error) {
	panels := []struct {
		name string
		band func(EpochStat) Band
	}{
		{"train loss", func(e EpochStat) Band { return e.TrainLoss }},
		{"clean balanced accuracy", func(e EpochStat) Band { return e.CleanBAcc }},
		{"PGD balanced robustness", func(e EpochStat) Band { return e.Robust }},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		if i == 0 {
			p.Title.Text = c.Name + ": training curves (mean, range over seeds)"
		}
		p.Y.Label.Text = pn.name
		if i == len(panels)-1 {
			p.X.Label.Text = "epoch"
		}
		var pts spread
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, e := range c.Curves {
			b := pn.band(e)
			if b.N == 0 {
				continue
			}
			pts = append(pts, struct{ X, Y, XLow, XHigh, YLow, YHigh float64 }{X: float64(e.Epoch + 1), Y: b.Mean,
				YLow: b.Mean - b.Min, YHigh: b.Max - b.Mean})
			lo, hi = min(lo, b.Min), max(hi, b.Max)
		}
		if len(pts) > 0 {
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, err
			}
			l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
			eb, err := plotter.NewYErrorBars(pts)
			if err != nil {
				return nil, err
			}
			eb.Color = plotutil.Color(i)
			p.Add(l, s, eb)
			if hi == lo {
				lo, hi = lo-0.5, hi+0.5
			}
			for _, end := range c.StageEnds {
				x := float64(end) + 0.5
				v, err := plotter.NewLine(plotter.XYs{{X: x, Y: lo}, {X: x, Y: hi}})
				if err != nil {
					return nil, err
				}
				v.Color, v.Dashes = color.Gray{Y: 100}, []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(v)
			}
		}
		p.X.Min, p.X.Max = 0.5, float64(len(c.Curves))+0.5
		plots[i] = []*plot.Plot{p}
	}
	cv := vgimg.New(8*vg.Inch, 8*vg.Inch)
	dc := draw.New(cv)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	for i, row := range plot.Align(plots, tiles, dc) {
		plots[i][0].Draw(row[0])
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: cv}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tradeoffPNG draws, for evaluation label, each configuration's balanced
// robustness under the label's robust attack against its clean balanced
// accuracy: the mean over seeds with ± one sample standard deviation as
// error bars (none for a single seed). ok is false when no configuration
// has both numbers.
func tradeoffPNG(configs []*Config, label string) (b []byte, attack string, ok bool, err error) {
	p := plot.New()
	p.X.Label.Text = "clean balanced accuracy"
	for i, c := range configs {
		l := c.Label(label)
		if l == nil {
			continue
		}
		if attack == "" {
			attack = l.RobustAttack()
		}
		clean, ok1 := l.Metric("clean_bacc")
		rob, ok2 := l.Metric("robust_bacc/" + attack)
		if !ok1 || !ok2 {
			continue
		}
		xe, ye := 0.0, 0.0
		if clean.N > 1 {
			xe = clean.Std
		}
		if rob.N > 1 {
			ye = rob.Std
		}
		pts := spread{{X: clean.Mean, Y: rob.Mean, XLow: xe, XHigh: xe, YLow: ye, YHigh: ye}}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, "", false, err
		}
		s.Color, s.Shape, s.Radius = plotutil.Color(i), plotutil.Shape(i), vg.Points(4)
		xb, err := plotter.NewXErrorBars(pts)
		if err != nil {
			return nil, "", false, err
		}
		yb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, "", false, err
		}
		xb.Color, yb.Color = plotutil.Color(i), plotutil.Color(i)
		p.Add(s, xb, yb)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", c.Name, clean.N), s)
		ok = true
	}
	if !ok {
		return nil, "", false, nil
	}
	p.Title.Text = fmt.Sprintf("%s: balanced robustness (%s) against clean balanced accuracy, mean ± std over seeds", label, attack)
	p.Y.Label.Text = "balanced robustness (" + attack + ")"
	p.Legend.Top, p.Legend.Left = true, true
	b, err = renderPNG(p, 8*vg.Inch, 6*vg.Inch)
	return b, attack, true, err
}
