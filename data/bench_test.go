package data_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/data"
)

// BenchmarkLoader measures the input pipeline on CIFAR-sized images
// ([3, 32, 32]) in images per second: decoding a CIFAR-10 binary file,
// serving one augmented, shuffled training epoch in batches of 128, an
// evaluation pass, and decoding followed by a training epoch.
func BenchmarkLoader(b *testing.B) {
	const n, batchSize = 5120, 128
	labels := make([][]byte, n)
	for i := range labels {
		labels[i] = []byte{byte(i % 10)}
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), data.EncodeCIFAR(0, labels...), 0o644); err != nil {
		b.Fatal(err)
	}
	load := func(b *testing.B) *data.Dataset {
		ds, err := data.LoadCIFAR10(dir, "test")
		if err != nil {
			b.Fatal(err)
		}
		return ds
	}
	x, y := make([]float32, batchSize*3*32*32), make([]int64, batchSize)
	epoch := func(batches *data.Batches) (images int) {
		for k := batches.Next(x, y); k > 0; k = batches.Next(x, y) {
			images += k
		}
		return images
	}
	for _, bc := range []struct {
		name string
		run  func(b *testing.B, ds *data.Dataset, i int) int // returns the images processed
	}{
		{"decode", func(b *testing.B, _ *data.Dataset, _ int) int { return load(b).N }},
		{"train-epoch/batch=128", func(_ *testing.B, ds *data.Dataset, i int) int {
			return epoch(data.TrainBatches(ds, batchSize, data.CIFARAugment, 1, i))
		}},
		{"eval/batch=128", func(_ *testing.B, ds *data.Dataset, _ int) int { return epoch(data.EvalBatches(ds, batchSize)) }},
		{"decode+train-epoch/batch=128", func(b *testing.B, _ *data.Dataset, i int) int {
			return epoch(data.TrainBatches(load(b), batchSize, data.CIFARAugment, 1, i))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ds := load(b)
			images, i := 0, 0
			for b.Loop() {
				images += bc.run(b, ds, i)
				i++
			}
			b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
