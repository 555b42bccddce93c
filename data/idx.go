package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// FashionMNISTDebianDir is where Debian's dataset-fashion-mnist package
// installs Fashion-MNIST's four gzipped IDX files.
const FashionMNISTDebianDir = "/usr/share/datasets/fashion-mnist"

// DefaultPath returns where the data set called name is found when the user
// gives no path: FashionMNISTDebianDir for fashion-mnist, "" for the data
// sets users bring.
func DefaultPath(name string) string {
	if name == "fashion-mnist" {
		return FashionMNISTDebianDir
	}
	return ""
}

// fashionMNISTNames are Fashion-MNIST's class names.
var fashionMNISTNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// LoadFashionMNIST reads the train (60,000 images) or test (10,000) split of
// Fashion-MNIST from dir, which holds train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each gzipped (".gz") or not, as
// FashionMNISTDebianDir does. Images are [N, 1, 28, 28], 10 classes.
func LoadFashionMNIST(dir, split string) (*Dataset, error) {
	return loadIDXDir("fashion-mnist", dir, split, fashionMNISTNames)
}

// LoadMNIST reads the train or test split of MNIST from dir, which holds
// the same four IDX file names as Fashion-MNIST's (see LoadFashionMNIST).
// ClassNames is nil: the class index is the digit.
func LoadMNIST(dir, split string) (*Dataset, error) {
	return loadIDXDir("mnist", dir, split, nil)
}

func loadIDXDir(name, dir, split string, classNames []string) (*Dataset, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("%s has no split %q (want train or test)", name, split)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("load %s %s: %s is a file: want the directory holding the four %s IDX files", name, split, dir, name)
	}
	var paths [2]string
	for i, kind := range []string{"images-idx3-ubyte", "labels-idx1-ubyte"} {
		p := filepath.Join(dir, prefix+"-"+kind)
		switch {
		case exists(p + ".gz"):
			paths[i] = p + ".gz"
		case exists(p):
			paths[i] = p
		default:
			return nil, fmt.Errorf("load %s %s: %s: no %s-%s[.gz]: want the %s IDX files: %w",
				name, split, dir, prefix, kind, name, fs.ErrNotExist)
		}
	}
	d, err := LoadIDX(paths[0], paths[1], 10)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, split, err)
	}
	d.Name, d.Split, d.ClassNames = name, split, slices.Clone(classNames)
	return d, nil
}

// LoadIDX reads images from an IDX file of unsigned bytes shaped
// [N, H, W] and their labels from one shaped [N], each in [0, classes).
// Either file may be gzipped; the gzip magic, not the name, decides. The
// result is [N, 1, H, W] with Name, Split and ClassNames empty.
//
// An IDX file is the magic 0x00 0x00, an element type (0x08 = unsigned
// byte, the only one accepted), the number of dimensions d, then d
// big-endian uint32 sizes, then the elements in row-major order: nothing
// more, nothing less. Reading stops a few KB past the size the header
// implies, so a file (or a gzip bomb) with more is an error once that much
// is read, not decompressed whole.
func LoadIDX(imagesPath, labelsPath string, classes int) (*Dataset, error) {
	imDims, pix, err := readIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(imDims) != 3 {
		return nil, formatErrorf(imagesPath, 3, "images have dimensions %v: want [N, H, W]", imDims)
	}
	lbDims, lb, err := readIDX(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(lbDims) != 1 || lbDims[0] != imDims[0] {
		return nil, formatErrorf(labelsPath, 3, "labels have dimensions %v: want [%d] to match %s", lbDims, imDims[0], imagesPath)
	}
	labels := make([]int64, len(lb))
	for i, y := range lb {
		if int(y) >= classes {
			return nil, formatErrorf(labelsPath, int64(len(lbDims)*4+4+i), "label %d of image %d out of range [0, %d)", y, i, classes)
		}
		labels[i] = int64(y)
	}
	images := make([]float32, len(pix))
	for i, v := range pix {
		images[i] = pixels[v]
	}
	return &Dataset{
		Images: images, Labels: labels,
		N: imDims[0], C: 1, H: imDims[1], W: imDims[2], Classes: classes,
	}, nil
}

// readIDX reads and parses the IDX file at path, gunzipping it if needed.
func readIDX(path string) (dims []int, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := readIDXBytes(path, f)
	if err != nil {
		return nil, nil, err
	}
	return parseIDX(path, b)
}

// idxSlack is how many bytes past the size its header implies
// readIDXBytes reads, so that a little trailing garbage is counted exactly.
const idxSlack = 4096

// readIDXBytes returns the IDX file in r, gunzipped if it starts with the
// gzip magic 0x1f 0x8b, for parseIDX to judge. It reads no more than the
// header, the Π dims data bytes the header implies and idxSlack more: a
// file (or a gzip bomb) with more than that after a valid header is a
// *FormatError as soon as that much is read, not decompressed whole.
func readIDXBytes(name string, r io.Reader) ([]byte, error) {
	zr, err := maybeGunzip(name, r)
	if err != nil {
		return nil, err
	}
	var b []byte
	more := func(n int64) error { // appends up to n bytes of zr to b
		got, err := io.ReadAll(io.LimitReader(zr, n))
		b = append(b, got...)
		return err
	}
	if err := more(4); err != nil || len(b) < 4 || b[3] == 0 || b[3] > maxIDXDims {
		return b, err // parseIDX names what is wrong
	}
	nd := int(b[3])
	if err := more(int64(4 * nd)); err != nil || len(b) < 4+4*nd {
		return b, err
	}
	size := int64(1) // Π dims, capped where no file could hold it (parseIDX: truncated)
	for i := range nd {
		d := int64(binary.BigEndian.Uint32(b[4+4*i:]))
		if d == 0 {
			size = 0
			break
		}
		size = min(size*d, math.MaxInt64/2) // d < 2³², size ≤ 2⁶²: no overflow
	}
	hdr := int64(len(b))
	if err := more(size + idxSlack); err != nil {
		return nil, err
	}
	if int64(len(b)) == hdr+size+idxSlack {
		return nil, formatErrorf(name, hdr+size, "more than %d trailing bytes after the %d data bytes that the header's dimensions need (stopped reading there)", idxSlack-1, size)
	}
	return b, nil
}

// maybeGunzip returns r, or a reader gunzipping it if it starts with the
// gzip magic 0x1f 0x8b.
func maybeGunzip(name string, r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gunzip: %w", name, err)
	}
	return gzipErrors{name: name, r: zr}, nil
}

// gzipErrors names the file and gunzip in the errors of r.
type gzipErrors struct {
	name string
	r    io.Reader
}

func (g gzipErrors) Read(b []byte) (int, error) {
	n, err := g.r.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: gunzip: %w", g.name, err)
	}
	return n, err
}

// parseIDX parses the (decompressed) IDX file b; see LoadIDX. data aliases b.
// maxIDXDims is the most dimensions an IDX file taet reads has (images).
const maxIDXDims = 3

func parseIDX(file string, b []byte) (dims []int, data []byte, err error) {
	if len(b) < 4 {
		return nil, nil, formatErrorf(file, 0, "file of %d bytes is shorter than the 4-byte IDX magic", len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return nil, nil, formatErrorf(file, 0, "magic %#x is not IDX: want 0x00 0x00, the element type, the number of dimensions", b[:4])
	}
	if b[2] != 0x08 {
		return nil, nil, formatErrorf(file, 2, "element type 0x%02x: want 0x08 (unsigned byte)", b[2])
	}
	nd := int(b[3])
	if nd == 0 || nd > maxIDXDims {
		return nil, nil, formatErrorf(file, 3, "%d dimensions: want 1 to %d (labels [N], images [N, H, W])", nd, maxIDXDims)
	}
	hdr := 4 + 4*nd
	if len(b) < hdr {
		return nil, nil, formatErrorf(file, int64(len(b)), "file ends inside the header: %d dimensions need %d header bytes, file has %d", nd, hdr, len(b))
	}
	have := len(b) - hdr
	dims = make([]int, nd)
	size, overflow := 1, false
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(b[4+4*i:]))
		if dims[i] != 0 && size > math.MaxInt/dims[i] {
			overflow = true
		}
		size *= dims[i]
	}
	if slices.Contains(dims, 0) {
		size, overflow = 0, false
	}
	switch {
	case overflow:
		return nil, nil, formatErrorf(file, int64(len(b)), "truncated: dimensions %v need more data bytes than the %d after the header", dims, have)
	case size > have:
		return nil, nil, formatErrorf(file, int64(len(b)), "truncated: dimensions %v need %d data bytes, the file has %d after the header", dims, size, have)
	case size < have:
		return nil, nil, formatErrorf(file, int64(hdr+size), "%d trailing bytes after the %d data bytes that dimensions %v need", have-size, size, dims)
	}
	return dims, b[hdr:], nil
}
