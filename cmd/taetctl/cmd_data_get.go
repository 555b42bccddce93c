package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/data/fetch"
)

// dataCatalog is the archives data get fetches; tests replace it with
// archives they serve.
var dataCatalog = fetch.Catalog()

// mirrorEnv names the environment variable that sets --mirror.
const mirrorEnv = "TAET_DATA_MIRROR"

// fetchFlags are the flags of the commands that read a data set and can
// fetch it: --download and --mirror.
func fetchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "download", Usage: "fetch the data set into the cache ($TAET_DATA) if --data is not given and it is not there"},
		mirrorFlag(), timeoutFlag(),
	}
}

// timeoutEnv names the environment variable that sets --download-timeout.
const timeoutEnv = "TAET_DATA_TIMEOUT"

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "download-timeout", Value: fetch.DefaultTimeout, EnvVars: []string{timeoutEnv},
		Usage: "give up a download request that gets no connection, no answer or no bytes for this long (a request that brought bytes is resumed, up to 5 times)"}
}

func mirrorFlag() cli.Flag {
	return &cli.StringFlag{Name: "mirror", Usage: "fetch data sets from `URL`/<file> (http, https, file, or a directory) instead of their official addresses", EnvVars: []string{mirrorEnv}}
}

// dataFetch finds a command's data set when --data is not given: the
// system copy (fashion-mnist), the cached copy, or with Download a fresh one.
type dataFetch struct {
	Ctx            context.Context // the command's; nil = context.Background()
	Download       bool
	Mirror         string
	Timeout        time.Duration // of each request's waits; 0 = fetch.DefaultTimeout
	G              globalOptions
	Stdout, Stderr io.Writer // for progress; nil = none
}

// newDataFetch reads the fetch flags of c.
func newDataFetch(c *cli.Context, g globalOptions) dataFetch {
	return dataFetch{Ctx: c.Context, Download: c.Bool("download"), Mirror: c.String("mirror"), Timeout: c.Duration("download-timeout"), G: g,
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
}

// path returns where the data set name is read from when --data is not
// given. A data set neither installed nor cached nor to be downloaded is a
// dataError saying which command fetches it and which file goes where.
func (f dataFetch) path(name string) (string, error) {
	if p := data.DefaultPath(name); p != "" {
		return p, nil
	}
	cache, err := f.cache()
	if err != nil {
		return "", err
	}
	src, err := cache.Lookup(name)
	if err != nil {
		return "", usagef("no path given: give the path of the %s files (%v)", name, err)
	}
	if p, err := cache.Cached(name); err == nil {
		return p, nil
	}
	if !f.Download {
		return "", dataError{fmt.Errorf("no path given and %s is not in the cache %s: fetch it with `taetctl data get %s` (or add --download), or download %s (MD5 %s) by hand and save it as %s",
			name, cache.Dir, src.Name, src.URL, src.MD5, cache.Path(src))}
	}
	return f.get(cache, name)
}

// cache returns the data set cache with progress reporting.
func (f dataFetch) cache() (*fetch.Cache, error) {
	dir, err := fetch.DefaultDir()
	if err != nil {
		return nil, dataError{err}
	}
	if f.Timeout < 0 {
		return nil, usagef("--download-timeout %v: want a positive duration", f.Timeout)
	}
	c := &fetch.Cache{Dir: dir, Mirror: f.Mirror, Catalog: dataCatalog, Timeout: f.Timeout}
	if f.Stdout != nil && f.Stderr != nil {
		c.Progress = newDownloadProgress(f.G, f.Stdout, f.Stderr).report
	}
	return c, nil
}

// get fetches the named data set into cache and reports where it landed.
func (f dataFetch) get(cache *fetch.Cache, name string) (string, error) {
	ctx := f.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if _, err := cache.Lookup(name); err != nil {
		return "", usageError{err}
	}
	path, err := cache.Get(ctx, name)
	if f.Stderr != nil && cache.Progress != nil {
		cache.Progress(fetch.Progress{}) // ends the bar
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return "", err
	case err != nil:
		return "", dataError{err}
	case f.G.JSON && f.Stdout != nil:
		writeJSON(f.Stdout, map[string]any{"message_type": "data_fetched", "name": name, "path": path})
	case !f.G.Quiet && f.Stderr != nil:
		fmt.Fprintf(f.Stderr, "%s: %s (MD5 verified)\n", name, path)
	}
	return path, nil
}

// downloadProgress prints a download's progress: a bar with bytes/s on a
// terminal, a plain line every plainEvery otherwise, a JSON status line
// at most once a second on stdout with --json.
type downloadProgress struct {
	g              globalOptions
	stdout, stderr io.Writer
	tty            bool
	bar            *progressbar.ProgressBar
	last           time.Time
}

func newDownloadProgress(g globalOptions, stdout, stderr io.Writer) *downloadProgress {
	return &downloadProgress{g: g, stdout: stdout, stderr: stderr, tty: stderrIsTerminal() && !g.Quiet && !g.JSON}
}

// report shows p; a zero Progress ends the bar.
func (d *downloadProgress) report(p fetch.Progress) {
	now := time.Now()
	done := p.Total >= 0 && p.Done >= p.Total
	switch {
	case p.Source.Name == "":
		if d.bar != nil {
			d.bar.Finish()
			d.bar = nil
		}
		return
	case d.g.JSON:
		if now.Sub(d.last) < time.Second && !done && p.Waiting == 0 {
			return
		}
		status := map[string]any{"message_type": "status", "download": p.Source.Name, "url": p.URL,
			"bytes": p.Done, "bytes_total": p.Total, "bytes_per_s": p.BytesPerSec}
		if p.Waiting > 0 {
			status["waiting_s"], status["timeout_s"] = p.Waiting.Seconds(), p.Timeout.Seconds()
		}
		writeJSON(d.stdout, status)
	case d.g.Quiet:
		return
	case d.tty:
		if d.bar == nil {
			d.bar = progressbar.NewOptions64(p.Total, progressbar.OptionSetWriter(d.stderr),
				progressbar.OptionSetDescription("get "+p.Source.Name), progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(25),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
		if p.Waiting > 0 {
			d.bar.Describe(fmt.Sprintf("get %s: waiting %v of %v", p.Source.Name, p.Waiting, p.Timeout))
		} else {
			d.bar.Describe("get " + p.Source.Name)
		}
		d.bar.Set64(p.Done)
		return
	default:
		if d.last.IsZero() {
			d.last = now // first line after plainEvery
			resume := ""
			if p.Resumed > 0 {
				resume = ", resuming at " + bytesText(p.Resumed)
			}
			fmt.Fprintf(d.stderr, "get %s from %s%s\n", p.Source.Name, p.URL, resume)
		}
		if p.Waiting > 0 {
			fmt.Fprintf(d.stderr, "get %s: waiting, no data for %v (giving up at %v)\n", p.Source.Name, p.Waiting, p.Timeout)
			return
		}
		if now.Sub(d.last) < plainEvery && !done {
			return
		}
		fmt.Fprintf(d.stderr, "get %s: %s of %s, %s/s\n", p.Source.Name, bytesText(p.Done), bytesText(p.Total), bytesText(int64(p.BytesPerSec)))
	}
	d.last = now
}

// bytesText writes n bytes in MB with one decimal, "?" for -1 (unknown).
func bytesText(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func newDataGetCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "download data sets into the cache, checking their MD5",
		UsageText: "taetctl data get [--mirror URL] NAME...",
		Description: `Downloads each named data set's official archive into the cache: $TAET_DATA,
else $XDG_CACHE_HOME/taet/datasets (~/.cache/taet/datasets). Names (see data list):
cifar10, cifar100 (also read as cifar100-coarse), medmnist:<flag> for the single-label
2-D MedMNIST v2 sets, e.g. medmnist:dermamnist. A download resumes where it stopped
(HTTP Range), and lands only if its MD5 is the published one; a file already in the
cache is checked again. A server that sends more than the published size is cut off
there (the partial file deleted); a request that waits --download-timeout for a
connection, an answer or more bytes is given up (and resumed, if it brought bytes),
with a line saying it waits meanwhile. Two downloads of one file at once: the second
stops, naming the first's PID. --mirror (or $` + mirrorEnv + `) fetches URL/<file> instead, from
an http(s) server, a file:// URL or a directory. fit, eval and data stats then read
the cached copy when --data is not given.

` + exitStatusHelp,
		Flags: []cli.Flag{mirrorFlag(), timeoutFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("data get: name the data sets to fetch (see taetctl data list)")
			}
			f := newDataFetch(c, *g)
			f.Download = true
			cache, err := f.cache()
			if err != nil {
				return err
			}
			for _, name := range c.Args().Slice() {
				if _, err := f.get(cache, name); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func newDataListCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "the data sets data get fetches, and which are in the cache, verified",
		UsageText: "taetctl data list",
		Description: `Lists every data set data get knows: its name, its state in the cache
(verified: the file has the published MD5; MD5 mismatch; partial: an unfinished
download that data get resumes; not fetched), its size and path, and its source.
Files in the cache are hashed, which takes a second per few hundred MB. With --json,
one "data_entry" object per data set.

` + exitStatusHelp,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("data list takes no arguments, got %q", c.Args().Slice())
			}
			dir, err := fetch.DefaultDir()
			if err != nil {
				return dataError{err}
			}
			return runDataList(c.Context, &fetch.Cache{Dir: dir, Catalog: dataCatalog}, *g, c.App.Writer)
		},
	}
}

// runDataList writes the state of every catalog entry of cache to w.
func runDataList(ctx context.Context, cache *fetch.Cache, g globalOptions, w io.Writer) error {
	entries, err := cache.List(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return dataError{err}
	}
	if g.JSON {
		for _, e := range entries {
			writeJSON(w, map[string]any{"message_type": "data_entry", "name": e.Name, "file": e.File, "path": e.Path,
				"present": e.Present, "verified": e.Verified, "bytes": e.Size, "partial_bytes": e.Partial, "url": e.URL, "md5": e.MD5})
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cache %s\n\nname\tstate\tsize\tsource\n", cache.Dir)
	for _, e := range entries {
		state, size := "not fetched", "-"
		switch {
		case e.Verified:
			state, size = "verified", bytesText(e.Size)
		case e.Present:
			state, size = "MD5 mismatch", bytesText(e.Size)
		case e.Partial > 0:
			state, size = "partial", bytesText(e.Partial)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, state, size, strings.TrimSuffix(e.URL, "?download=1"))
	}
	return tw.Flush()
}
