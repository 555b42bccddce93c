package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// The files Write writes into the report directory, and the directory of
// the figures in it.
const (
	MarkdownFile = "report.md"
	CSVFile      = "report.csv"
	JSONFile     = "report.json"
	HTMLFile     = "report.html"
	FigureDir    = "figures"
)

// Write writes the report into dir: report.md, report.csv, report.json,
// the figures under figures/ and report.html with the figures embedded.
// Every file is written into a temporary directory beside dir, which then
// takes dir's place (an atomic exchange where the file system has one), so
// a failure (a full disk) leaves the previous report whole and no mixed
// one. dir must be missing, empty or a report Write wrote (holding its
// files only): a directory holding anything else is refused, not
// replaced.
func (rep *Report) Write(dir string) (err error) {
	if err := checkReportDir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes 0700 directories
		return err
	}
	if err := rep.writeFiles(tmp); err != nil {
		return err
	}
	return replaceDir(tmp, dir)
}

// reportEntries are the names Write puts into a report directory.
var reportEntries = []string{MarkdownFile, CSVFile, JSONFile, HTMLFile, FigureDir}

// checkReportDir refuses a dir that holds anything but a report's files.
func checkReportDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		if !slices.Contains(reportEntries, e.Name()) {
			return fmt.Errorf("%s holds %s, which is not a report's: Write replaces the whole directory, so give a new or report directory", dir, e.Name())
		}
	}
	return nil
}

// replaceDir puts the directory tmp in dir's place: a plain rename when
// dir is missing; else an atomic exchange (renameat2 RENAME_EXCHANGE) or,
// where the file system has none, dir moved aside first (and back on
// failure); then the old dir is removed.
func replaceDir(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return nil
	}
	if _, serr := os.Stat(dir); serr != nil {
		return err
	}
	old := tmp + ".old"
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err == nil {
		return os.RemoveAll(tmp) // now the old report
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return errors.Join(err, os.Rename(old, dir))
	}
	return os.RemoveAll(old)
}

// writeFiles writes the report's files into the directory dir.
func (rep *Report) writeFiles(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, FigureDir), 0o755); err != nil {
		return err
	}
	figs, err := rep.Figures()
	if err != nil {
		return err
	}
	for _, f := range figs {
		if err := atomicfile.Write(filepath.Join(dir, f.File), f.PNG); err != nil {
			return err
		}
	}
	var md, csv strings.Builder
	if err := rep.Markdown(&md, figs); err != nil {
		return err
	}
	if err := rep.CSV(&csv); err != nil {
		return err
	}
	js, err := json.MarshalIndent(struct {
		*Report
		Figures []Figure `json:"figures"`
	}{rep, figs}, "", "  ")
	if err != nil {
		return err
	}
	var html strings.Builder
	if err := rep.HTML(&html, figs); err != nil {
		return err
	}
	for name, b := range map[string][]byte{MarkdownFile: []byte(md.String()), CSVFile: []byte(csv.String()),
		JSONFile: append(js, '\n'), HTMLFile: []byte(html.String())} {
		if err := atomicfile.Write(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// Figures draws the report's figures: per configuration and evaluation the
// per-class recall (clean and under the robust attack) against training
// counts, per configuration its training curves, and per evaluation label
// robustness against accuracy over all configurations.
func (rep *Report) Figures() ([]Figure, error) {
	var figs []Figure
	for i, c := range rep.Configs {
		for _, l := range c.Labels {
			attack := l.RobustAttack()
			if attack == "" {
				continue
			}
			var robust ClassRecall
			for _, r := range l.Recall {
				if r.Attack == attack {
					robust = r
				}
			}
			clean, _ := l.Metric("clean_bacc")
			title := fmt.Sprintf("%s, %s: per-class recall, clean vs %s (mean over %d runs)", c.Name, l.Label, attack, clean.N)
			b, err := recallPNG(title, l.ClassNames, l.TrainCounts, l.Recall[0], robust)
			if err != nil {
				return nil, err
			}
			figs = append(figs, Figure{File: figureFile("recall", i, c.Name, l.Label), Title: title, PNG: b})
		}
		if len(c.Curves) > 0 {
			b, err := curvesPNG(c)
			if err != nil {
				return nil, err
			}
			figs = append(figs, Figure{File: figureFile("curves", i, c.Name), Title: c.Name + ": training curves", PNG: b})
		}
	}
	for _, label := range rep.LabelNames() {
		b, attack, ok, err := tradeoffPNG(rep.Configs, label)
		if err != nil {
			return nil, err
		} else if ok {
			figs = append(figs, Figure{File: figureFile("tradeoff", -1, label),
				Title: fmt.Sprintf("%s: balanced robustness (%s) against clean balanced accuracy", label, attack), PNG: b})
		}
	}
	return figs, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// maxFigurePart is the most bytes of one part of a figure's file name:
// configuration names made of many differing settings (a robal run beside
// a reat one differs in a dozen, its LR milestones among them) would
// otherwise pass the file system's 255-byte limit.
const maxFigurePart = 80

// figureFile names a figure: its kind, the configuration's index (when ≥ 0,
// which keeps names unique) and parts made safe for file names, each cut
// to maxFigurePart bytes.
func figureFile(kind string, config int, parts ...string) string {
	name := kind
	if config >= 0 {
		name += fmt.Sprintf("-%02d", config+1)
	}
	for _, p := range parts {
		p = strings.Trim(unsafeName.ReplaceAllString(p, "_"), "_")
		name += "-" + strings.TrimRight(p[:min(len(p), maxFigurePart)], "_")
	}
	return filepath.ToSlash(filepath.Join(FigureDir, name+".png"))
}

// LabelNames returns the evaluation labels of all configurations, in the
// order first seen.
func (rep *Report) LabelNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range rep.Configs {
		for _, l := range c.Labels {
			if !seen[l.Label] {
				seen[l.Label] = true
				out = append(out, l.Label)
			}
		}
	}
	return out
}

// Table is one table of the report: a row per configuration, a column per
// metric, each cell a Stat (N = 0 where the configuration lacks it).
type Table struct {
	Label   string
	Metrics []string
	Rows    []TableRow
}

// TableRow is one configuration's row of a Table.
type TableRow struct {
	Config string
	Runs   int
	Cells  []Stat
}

// Tables returns the report's tables: the fits (TrainingLabel) and then
// one per evaluation label.
func (rep *Report) Tables() []Table {
	var out []Table
	for _, label := range append([]string{TrainingLabel}, rep.LabelNames()...) {
		t := Table{Label: label}
		metrics := func(c *Config) []Metric {
			if label == TrainingLabel {
				return c.Training
			}
			if l := c.Label(label); l != nil {
				return l.Metrics
			}
			return nil
		}
		for _, c := range rep.Configs {
			for _, m := range metrics(c) {
				if !slices.Contains(t.Metrics, m.Name) {
					t.Metrics = append(t.Metrics, m.Name)
				}
			}
		}
		for _, c := range rep.Configs {
			row := TableRow{Config: c.Name, Runs: len(c.Runs), Cells: make([]Stat, len(t.Metrics))}
			for i, name := range t.Metrics {
				row.Cells[i] = Stat{Mean: math.NaN(), Std: math.NaN()}
				for _, m := range metrics(c) {
					if m.Name == name {
						row.Cells[i] = m.Stat
					}
				}
			}
			t.Rows = append(t.Rows, row)
		}
		out = append(out, t)
	}
	return out
}

// FormatStat writes a Stat as "mean ± std (n=N)", with "n=1, no std" for
// a single run and "—" when no run has the value. Seconds are rounded to
// whole seconds, everything else to four decimals.
func FormatStat(metric string, s Stat) string {
	if s.N == 0 {
		return "—"
	}
	prec := 4
	if strings.HasSuffix(metric, "seconds") || metric == "epochs" {
		prec = 0
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	if s.N == 1 {
		return f(s.Mean) + " (n=1, no std)"
	}
	return fmt.Sprintf("%s ± %s (n=%d)", f(s.Mean), f(s.Std), s.N)
}

// Markdown writes the report as Markdown: the configurations, a table per
// evaluation label, what is missing, and links to the figures.
func (rep *Report) Markdown(w io.Writer, figs []Figure) error {
	fmt.Fprintf(w, "# %s\n\n", rep.Title)
	fmt.Fprintln(w, "Mean ± sample standard deviation (n−1) over seeds; n is the number of runs with the value.")
	fmt.Fprintln(w, "Seconds: fit = Σ epoch training and evaluation seconds, eval = Σ attack seconds of the record, total = both.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Configurations")
	fmt.Fprintln(w)
	for _, c := range rep.Configs {
		fmt.Fprintf(w, "- **%s** (method %s): %d runs: %s\n", mdEscape(c.Name), mdEscape(c.Method), len(c.Runs), mdEscape(strings.Join(c.RunNames, ", ")))
	}
	for _, t := range rep.Tables() {
		fmt.Fprintf(w, "\n## %s\n\n", mdEscape(tableTitle(t.Label)))
		if len(t.Metrics) == 0 {
			fmt.Fprintln(w, "No run has finished.")
			continue
		}
		fmt.Fprintf(w, "| configuration | runs | %s |\n", strings.Join(t.Metrics, " | "))
		fmt.Fprintf(w, "|---|---:|%s\n", strings.Repeat("---:|", len(t.Metrics)))
		for _, r := range t.Rows {
			cells := make([]string, len(r.Cells))
			for i, s := range r.Cells {
				cells[i] = FormatStat(t.Metrics[i], s)
			}
			fmt.Fprintf(w, "| %s | %d | %s |\n", mdEscape(r.Config), r.Runs, strings.Join(cells, " | "))
		}
	}
	if len(rep.Missing) > 0 {
		fmt.Fprintln(w, "\n## Missing")
		fmt.Fprintln(w)
		for _, m := range rep.Missing {
			fmt.Fprintf(w, "- %s (%s): %s\n", mdEscape(m.Run), mdEscape(m.Dir), mdEscape(strings.Join(m.What, "; ")))
		}
	}
	if len(figs) > 0 {
		fmt.Fprintln(w, "\n## Figures")
		for _, f := range figs {
			fmt.Fprintf(w, "\n![%s](%s)\n", mdEscape(f.Title), f.File)
		}
	}
	return nil
}

// tableTitle is the heading of the table of a label.
func tableTitle(label string) string {
	if label == TrainingLabel {
		return "Fits (final epoch, on the fit's held-out subset)"
	}
	return "Evaluation " + label
}

var mdSpecial = strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", "&lt;", "\n", " ")

// mdEscape keeps a name from being read as Markdown.
func mdEscape(s string) string { return mdSpecial.Replace(s) }

// CSV writes one row per configuration × label × metric: configuration,
// method, label (TrainingLabel for the fits' own numbers), metric, mean,
// std (empty when n < 2), n.
func (rep *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"configuration", "method", "label", "metric", "mean", "std", "n"})
	num := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	for _, c := range rep.Configs {
		write := func(label string, ms []Metric) {
			for _, m := range ms {
				cw.Write([]string{c.Name, c.Method, label, m.Name, num(m.Mean), num(m.Std), strconv.Itoa(m.N)})
			}
		}
		write(TrainingLabel, c.Training)
		for _, l := range c.Labels {
			write(l.Label, l.Metrics)
		}
	}
	cw.Flush()
	return cw.Error()
}
