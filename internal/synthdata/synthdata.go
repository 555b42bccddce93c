// Package synthdata writes small synthetic data sets in the formats taet
// reads, for tests that need a data set on disk.
package synthdata

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/taet-ml/taet/data"
)

// Stripes returns an in-memory data set of n one-channel size×size images
// of 10 classes drawn from seed: class c (image i has class i mod 10) is a
// bright row c on noise, learnable in a few steps. size must be ≥ 10.
func Stripes(n, size int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	d := &data.Dataset{Name: "stripes", Split: "train", N: n, C: 1, H: size, W: size, Classes: 10,
		Images: make([]float32, 0, n*size*size), Labels: make([]int64, n)}
	for i := range n {
		c := i % 10
		d.Labels[i] = int64(c)
		for r := range size {
			for range size {
				v := rng.IntN(60)
				if r == c {
					v += 180
				}
				d.Images = append(d.Images, float32(v)/255)
			}
		}
	}
	return d
}

// FashionIDX writes a Fashion-MNIST-shaped data set (IDX files, 10
// classes) of n training and n/2 test images of size×size (size ≥ 10) into
// a new temporary directory and returns it: class c is a bright row c on
// noise, learnable in a few steps.
func FashionIDX(t testing.TB, n, size int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	write := func(prefix string, count int) {
		images := binary.BigEndian.AppendUint32(nil, 0x00000803)
		for _, d := range []int{count, size, size} {
			images = binary.BigEndian.AppendUint32(images, uint32(d))
		}
		labels := binary.BigEndian.AppendUint32(nil, 0x00000801)
		labels = binary.BigEndian.AppendUint32(labels, uint32(count))
		for i := range count {
			c := i % 10
			labels = append(labels, byte(c))
			for r := range size {
				for range size {
					v := rng.IntN(60)
					if r == c {
						v += 180
					}
					images = append(images, byte(v))
				}
			}
		}
		for name, b := range map[string][]byte{prefix + "-images-idx3-ubyte": images, prefix + "-labels-idx1-ubyte": labels} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("train", n)
	write("t10k", n/2)
	return dir
}
