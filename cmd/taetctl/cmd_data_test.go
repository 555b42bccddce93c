package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taet-ml/taet/data"
	"github.com/taet-ml/taet/internal/testenv"
)

// writeCIFAR10 writes a CIFAR-10 binary directory whose training set holds
// perClass images of each class (labels cycling 0..9 across the five batch
// files) and whose test set holds images with the labels test, and returns it.
func writeCIFAR10(t *testing.T, perClass int, test ...int) string {
	t.Helper()
	dir := t.TempDir()
	records := func(labels ...int) []byte {
		var b []byte
		for _, y := range labels {
			r := make([]byte, 1+3*32*32)
			r[0] = byte(y)
			for k := range r[1:] {
				r[1+k] = byte(y + k)
			}
			b = append(b, r...)
		}
		return b
	}
	n := 10 * perClass
	for b := range 5 {
		var labels []int
		for i := b * n / 5; i < (b+1)*n/5; i++ {
			labels = append(labels, i%10)
		}
		if err := os.WriteFile(filepath.Join(dir, "data_batch_"+string(rune('1'+b))+".bin"), records(labels...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), records(test...), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunDataStats(t *testing.T) {
	dir := writeCIFAR10(t, 20, 0)
	t.Run("text", func(t *testing.T) {
		var out bytes.Buffer
		err := runDataStats(context.Background(), dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "train"}, globalOptions{}, &out)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"cifar10 train (" + dir + "): 200 images of 3×32×32, 10 classes",
			"imbalance ratio 1 (largest class 20 images, smallest 20)",
			"head 3 classes, 60 images (30.0%); medium 4, 80 (40.0%); tail 3, 60 (30.0%)",
			"0      airplane    20      10.0%  head",
			"9      truck       20      10.0%  tail",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("long-tailed json with plot", func(t *testing.T) {
		var out bytes.Buffer
		png := filepath.Join(t.TempDir(), "counts.png")
		o := dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "train", IR: 10, Seed: 7, Plot: png}
		if err := runDataStats(context.Background(), o, globalOptions{JSON: true}, &out); err != nil {
			t.Fatal(err)
		}
		var s struct {
			MessageType    string            `json:"message_type"`
			Images         int               `json:"images"`
			Counts         []int             `json:"counts"`
			ImbalanceRatio float64           `json:"imbalance_ratio"`
			Head           []int             `json:"head"`
			Tail           []int             `json:"tail"`
			LongTail       *data.SplitRecord `json:"long_tail"`
		}
		if err := json.Unmarshal(out.Bytes(), &s); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		want := data.LongTailCounts(20, 10, 10)
		if s.MessageType != "data_stats" || !slices.Equal(s.Counts, want) || s.ImbalanceRatio != 10 ||
			!slices.Equal(s.Head, []int{0, 1, 2}) || !slices.Equal(s.Tail, []int{7, 8, 9}) {
			t.Errorf("got %s", out.String())
		}
		if s.LongTail == nil || s.LongTail.Seed != 7 || s.LongTail.NMax != 20 || len(s.LongTail.IndicesSHA256) != 64 {
			t.Errorf("long_tail record %+v", s.LongTail)
		}
		b, err := os.ReadFile(png)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("plot %s: not a PNG (%v)", png, err)
		}
	})
}

func TestDataStatsCommand(t *testing.T) {
	dir := writeCIFAR10(t, 1, 0)
	stats := []string{"data", "stats", "--dataset", "cifar10", "--path", dir, "--split", "test"}
	for name, args := range map[string][]string{
		"--json before data": append([]string{"--json"}, stats...),
		"--json after stats": append(slices.Clone(stats), "--json"),
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			app := newApp(&globalOptions{})
			app.Writer = &out
			if err := app.Run(append([]string{"taetctl"}, args...)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), `"counts":[1,0,0,0,0,0,0,0,0,0]`) || !strings.Contains(out.String(), `"imbalance_ratio":null`) {
				t.Errorf("got %s", out.String())
			}
		})
	}
}

func TestDataStatsErrors(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("TAET_DATA", cache)
	dir := writeCIFAR10(t, 1, slices.Repeat([]int{0}, 20)...)
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "test_batch.bin"), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    dataStatsOptions
		code int
		want string
	}{
		{"no dataset", dataStatsOptions{Split: "train"}, exitUsage, "--dataset is required"},
		{"unknown dataset", dataStatsOptions{Dataset: "imagenet", Split: "train"}, exitUsage, `--dataset "imagenet"`},
		{"bad split", dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "val"}, exitUsage, `--split "val": cifar10 has train, test`},
		{"not fetched", dataStatsOptions{Dataset: "cifar10", Split: "train"}, exitData, "fetch it with `taetctl data get cifar10` (or add --download), or download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (MD5 c32a1d4ab5d03f1284b67883e8d87530) by hand and save it as " + filepath.Join(cache, "cifar-10-binary.tar.gz")},
		{"no download", dataStatsOptions{Dataset: "mnist", Split: "train"}, exitUsage, `no path given: give the path of the mnist files (no download for data set "mnist"`},
		{"IR below 1", dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "train", IR: 0.5}, exitUsage, "--ir 0.5"},
		{"plot format", dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "train", Plot: "x.gif"}, exitUsage, "--plot x.gif"},
		{"missing files", dataStatsOptions{Dataset: "cifar10", Path: t.TempDir(), Split: "train"}, exitData, "no data_batch_1.bin"},
		{"truncated file", dataStatsOptions{Dataset: "cifar10", Path: bad, Split: "test"}, exitData, "test_batch.bin: offset 0: file of 3 bytes ends inside record 0"},
		{"too few for IR", dataStatsOptions{Dataset: "cifar10", Path: dir, Split: "test", IR: 2}, exitData, "class 1 has 0 images, IR 2 with n_max 2 needs 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			err := runDataStats(ctx, tc.o, globalOptions{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("no error")
			}
			if code := exitCode(ctx, err); code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v (exit %d), want exit %d saying %q", err, code, tc.code, tc.want)
			}
		})
	}
}

// TestDataStatsFashionMNIST runs on the real data set at the default path
// where Debian's package is installed (CI installs it).
func TestDataStatsFashionMNIST(t *testing.T) {
	if _, err := os.Stat(data.FashionMNISTDebianDir); err != nil {
		testenv.Missing(t, "Fashion-MNIST not installed (%v): run apt-get install dataset-fashion-mnist", err)
	}
	var out bytes.Buffer
	o := dataStatsOptions{Dataset: "fashion-mnist", Split: "test", IR: 100}
	if err := runDataStats(context.Background(), o, globalOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fashion-mnist test (" + data.FashionMNISTDebianDir + "): 2478 images", "imbalance ratio 100", "Ankle boot"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
