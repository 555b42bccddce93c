// Package synthdata writes small synthetic data sets in the formats taet
// reads, for tests that need a data set on disk.
package synthdata

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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

// CIFAR10TarGz returns a cifar-10-binary.tar.gz holding perClass training
// images of each class, spread over the five batch files, and one test
// image of each class; pixels are a seeded noise.
func CIFAR10TarGz(t testing.TB, perClass int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(10, 10))
	records := func(first, n int) []byte {
		var b []byte
		for i := first; i < first+n; i++ {
			b = append(b, byte(i%10))
			for range 3 * 32 * 32 {
				b = append(b, byte(rng.IntN(256)))
			}
		}
		return b
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	n := 10 * perClass
	for k := range 5 {
		add(fmt.Sprintf("data_batch_%d.bin", k+1), records(k*n/5, (k+1)*n/5-k*n/5))
	}
	add("test_batch.bin", records(0, 10))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// MedMNISTNPZ returns a MedMNIST-format .npz (a zip of .npy arrays) with
// n images of 28×28×3 noise per split (train, val, test), labels cycling
// through [0, classes).
func MedMNISTNPZ(t testing.TB, n, classes int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 11))
	npy := func(descr string, shape string, b []byte) []byte {
		header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
		header += strings.Repeat(" ", 63-(10+len(header))%64) + "\n" // pads the header to a multiple of 64
		out := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
		return append(append(out, header...), b...)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, split := range []string{"train", "val", "test"} {
		images := make([]byte, n*28*28*3)
		for i := range images {
			images[i] = byte(rng.IntN(256))
		}
		labels := make([]byte, n)
		for i := range labels {
			labels[i] = byte(i % classes)
		}
		for name, b := range map[string][]byte{
			split + "_images.npy": npy("|u1", fmt.Sprintf("(%d, 28, 28, 3)", n), images),
			split + "_labels.npy": npy("|u1", fmt.Sprintf("(%d, 1)", n), labels),
		} {
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
