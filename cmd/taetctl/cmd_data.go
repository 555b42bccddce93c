package main

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/taet-ml/taet/data"
)

// dataStatsOptions are the flags of `taetctl data stats`.
type dataStatsOptions struct {
	Dataset string    // cifar10 | cifar100 | cifar100-coarse | medmnist | fashion-mnist | mnist
	Path    string    // directory, .tar.gz or .npz; "" = data.FashionMNISTDebianDir for fashion-mnist
	Split   string    // train | test | val (medmnist only)
	IR      float64   // imbalance ratio of a long-tailed split to draw; 0 = the split as stored
	Seed    uint64    // seed of the long-tailed sampling
	Plot    string    // bar chart of the class counts: .png, .svg or .pdf; "" = none
	Fetch   dataFetch // finds the data set when Path is ""
}

func newDataCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:        "data",
		Usage:       "fetch and inspect data sets",
		Description: "Commands that fetch data sets into the cache and read them the way training does.\n\n" + exitStatusHelp,
		Subcommands: []*cli.Command{flagsAfterArgs(newDataGetCommand(g)), newDataListCommand(g), newDataStatsCommand(g)},
	}
}

func newDataStatsCommand(g *globalOptions) *cli.Command {
	var o dataStatsOptions
	return &cli.Command{
		Name:      "stats",
		Usage:     "class counts, imbalance ratio and head/medium/tail classes of a data set split",
		UsageText: "taetctl data stats --dataset NAME [--path P] [--split S] [--ir R] [--seed S] [--plot FILE]",
		Description: `Reads one split of a data set as training reads it and prints, per class, the
number of images and its share, then the imbalance ratio (largest class / smallest)
and the classes in three groups by size: head = the ⌊C/3⌋ largest classes, tail =
the ⌊C/3⌋ smallest, medium = the rest (ties go to the lower class index).

With --ir, it first draws the long-tailed split: class c keeps
int(n_max·(1/IR)^(c/(C−1))) images, n_max = N/C, chosen at random with --seed;
the output then includes the split's record (counts and a SHA-256 of the kept
indices) that rebuilds it.

--path is the CIFAR-10/100 binary directory or its .tar.gz, the MedMNIST .npz
file (e.g. dermamnist.npz, splits train, val, test; --dataset medmnist:dermamnist
names the set whatever the file is called), or the (Fashion-)MNIST IDX directory;
for fashion-mnist it defaults to ` + data.FashionMNISTDebianDir + `
(apt-get install dataset-fashion-mnist), for the others to the copy taetctl data
get fetched (--download fetches it). With --json, stdout is one
"data_stats" object. --plot writes a bar chart of the counts, colored by group.

` + exitStatusHelp,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "dataset", Usage: "data set: " + strings.Join(data.Names(), ", ") + " (required)", Destination: &o.Dataset},
			&cli.StringFlag{Name: "path", Usage: "data directory, archive or .npz file (default for fashion-mnist: " + data.FashionMNISTDebianDir + ")", Destination: &o.Path},
			&cli.StringFlag{Name: "split", Value: "train", Usage: "split: train or test (medmnist: also val)", Destination: &o.Split},
			&cli.Float64Flag{Name: "ir", Usage: "draw a long-tailed split with this imbalance ratio (≥ 1); 0 = the split as stored", Destination: &o.IR},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the long-tailed sampling", Destination: &o.Seed},
			&cli.StringFlag{Name: "plot", Usage: "write a bar chart of the class counts to `FILE` (.png, .svg or .pdf)", Destination: &o.Plot},
		}, fetchFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("data stats takes no arguments, got %q", c.Args().Slice())
			}
			o.Fetch = newDataFetch(c, *g)
			return runDataStats(c.Context, o, *g, c.App.Writer)
		},
	}
}

// validate checks o.
func (o *dataStatsOptions) validate() error {
	splits := data.Splits(o.Dataset)
	switch {
	case o.Dataset == "":
		return usagef("--dataset is required: one of %s", strings.Join(data.Names(), ", "))
	case splits == nil:
		return usagef("--dataset %q: want one of %s", o.Dataset, strings.Join(data.Names(), ", "))
	case !slices.Contains(splits, o.Split):
		return usagef("--split %q: %s has %s", o.Split, o.Dataset, strings.Join(splits, ", "))
	case o.IR != 0 && !(o.IR >= 1 && !math.IsInf(o.IR, 1)):
		return usagef("--ir %g: want a finite imbalance ratio ≥ 1, or 0 for the split as stored", o.IR)
	}
	if ext := strings.ToLower(filepath.Ext(o.Plot)); o.Plot != "" && ext != ".png" && ext != ".svg" && ext != ".pdf" {
		return usagef("--plot %s: want a file name ending in .png, .svg or .pdf", o.Plot)
	}
	return nil
}

// dataStats is the result of `data stats`, and its --json object.
type dataStats struct {
	MessageType    string            `json:"message_type"` // "data_stats"
	Dataset        string            `json:"dataset"`      // the data set's name; for MedMNIST the file's ("dermamnist")
	Split          string            `json:"split"`
	Path           string            `json:"path"`
	Images         int               `json:"images"`
	Shape          [3]int            `json:"shape"` // [C, H, W]
	Classes        int               `json:"classes"`
	ClassNames     []string          `json:"class_names,omitempty"`
	Counts         []int             `json:"counts"`
	ImbalanceRatio *float64          `json:"imbalance_ratio"` // max/min count; null when a class is empty
	Head           []int             `json:"head"`            // class indices, largest first
	Medium         []int             `json:"medium"`
	Tail           []int             `json:"tail"`
	LongTail       *data.SplitRecord `json:"long_tail,omitempty"` // with --ir
	Plot           string            `json:"plot,omitempty"`
}

// runDataStats loads the split o names, draws its long-tailed version if
// o.IR is set, and writes the statistics to w (and the chart to o.Plot).
func runDataStats(ctx context.Context, o dataStatsOptions, g globalOptions, w io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Path == "" {
		var err error
		if o.Path, err = o.Fetch.path(o.Dataset); err != nil {
			return err
		}
	}
	ds, err := data.Load(o.Dataset, o.Path, o.Split)
	if err != nil {
		return dataError{err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := dataStats{MessageType: "data_stats", Path: o.Path, Plot: o.Plot}
	if o.IR != 0 {
		lt, rec, err := data.LongTail(ds, o.IR, 0, o.Seed)
		if err != nil {
			return dataError{err}
		}
		ds, s.LongTail = lt, &rec
	}
	s.Dataset, s.Split, s.Images, s.Shape = ds.Name, ds.Split, ds.N, [3]int{ds.C, ds.H, ds.W}
	s.Classes, s.ClassNames = ds.Classes, ds.ClassNames
	s.Counts = data.ClassCounts(ds.Labels, ds.Classes)
	if ir := data.ImbalanceRatio(s.Counts); !math.IsInf(ir, 0) && !math.IsNaN(ir) {
		s.ImbalanceRatio = &ir
	}
	s.Head, s.Medium, s.Tail = data.Groups(s.Counts)
	if o.Plot != "" {
		if err := plotClassCounts(o.Plot, s); err != nil {
			return fmt.Errorf("plot class counts: %w", err)
		}
	}
	return newPrinter(g, w, nil).result(s, s.writeText)
}

// group returns the group of class c: "head", "medium" or "tail".
func (s *dataStats) group(c int) string {
	switch {
	case slices.Contains(s.Head, c):
		return "head"
	case slices.Contains(s.Tail, c):
		return "tail"
	}
	return "medium"
}

func (s *dataStats) className(c int) string {
	if c < len(s.ClassNames) {
		return s.ClassNames[c]
	}
	return strconv.Itoa(c)
}

func (s *dataStats) writeText(w io.Writer) error {
	ir := "∞ (a class is empty)"
	if s.ImbalanceRatio != nil {
		ir = strconv.FormatFloat(*s.ImbalanceRatio, 'g', 4, 64)
	}
	share := func(n int) float64 { return 100 * float64(n) / float64(max(s.Images, 1)) }
	total := func(cs []int) (n int) {
		for _, c := range cs {
			n += s.Counts[c]
		}
		return n
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s %s (%s): %d images of %d×%d×%d, %d classes\n", s.Dataset, s.Split, s.Path, s.Images, s.Shape[0], s.Shape[1], s.Shape[2], s.Classes)
	if r := s.LongTail; r != nil {
		fmt.Fprintf(tw, "long-tailed: IR %g, n_max %d, seed %d, kept indices sha256 %s\n", r.IR, r.NMax, r.Seed, r.IndicesSHA256)
	}
	fmt.Fprintf(tw, "imbalance ratio %s (largest class %d images, smallest %d)\n", ir, slices.Max(s.Counts), slices.Min(s.Counts))
	fmt.Fprintf(tw, "groups by size: head %d classes, %d images (%.1f%%); medium %d, %d (%.1f%%); tail %d, %d (%.1f%%)\n\n",
		len(s.Head), total(s.Head), share(total(s.Head)), len(s.Medium), total(s.Medium), share(total(s.Medium)),
		len(s.Tail), total(s.Tail), share(total(s.Tail)))
	fmt.Fprintln(tw, "class\tname\timages\tshare\tgroup")
	for c, n := range s.Counts {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f%%\t%s\n", c, s.className(c), n, share(n), s.group(c))
	}
	if s.Plot != "" {
		fmt.Fprintf(tw, "\nbar chart: %s\n", s.Plot)
	}
	return tw.Flush()
}

// plotClassCounts writes a bar chart of s.Counts to file, one color per
// group; the file's extension picks the format.
func plotClassCounts(file string, s dataStats) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s %s: %d images", s.Dataset, s.Split, s.Images)
	if s.LongTail != nil {
		p.Title.Text += fmt.Sprintf(", long-tailed IR %g", s.LongTail.IR)
	}
	p.X.Label.Text = "class"
	p.Y.Label.Text = "images"
	p.Legend.Top = true
	const width = 8 * vg.Inch
	barWidth := max(0.75*(width-1*vg.Inch)/vg.Length(len(s.Counts)), 0.5)
	for _, grp := range []struct {
		name    string
		classes []int
		color   color.RGBA
	}{
		{"head", s.Head, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}},
		{"medium", s.Medium, color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}},
		{"tail", s.Tail, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}},
	} {
		if len(grp.classes) == 0 {
			continue
		}
		vals := make(plotter.Values, len(s.Counts))
		for _, c := range grp.classes {
			vals[c] = float64(s.Counts[c])
		}
		bars, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return err
		}
		bars.Color = grp.color
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(grp.name, bars)
	}
	labels := make([]string, len(s.Counts))
	for c := range labels {
		if len(s.Counts) <= 20 {
			labels[c] = s.className(c)
		} else if c%10 == 0 {
			labels[c] = strconv.Itoa(c)
		}
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(s.Counts))-0.5
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ticks := plot.DefaultTicks{}.Ticks(lo, hi)
		for i, t := range ticks {
			if t.Label != "" {
				ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64) // 500, not 500.00
			}
		}
		return ticks
	})
	if len(s.Counts) <= 20 && len(s.ClassNames) > 0 {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	return p.Save(width, 5*vg.Inch, file)
}
