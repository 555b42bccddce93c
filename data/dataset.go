package data

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// Dataset is one split of an image classification data set, decoded.
type Dataset struct {
	Name  string // "cifar10", "cifar100", "cifar100-coarse", "fashion-mnist", "mnist", or the MedMNIST file's base name ("dermamnist")
	Split string // "train", "test" or (MedMNIST) "val"

	// Images holds N images as float32 [N, C, H, W] in row-major order, each
	// pixel v/255 for its stored byte v, so in [0, 1].
	Images []float32
	// Labels holds the N class indices, each in [0, Classes).
	Labels []int64

	N, C, H, W int
	Classes    int
	ClassNames []string // len Classes, or nil where the format names no classes
}

// ImageSize returns C·H·W, the number of float32 values per image.
func (d *Dataset) ImageSize() int { return d.C * d.H * d.W }

// Shape returns the image shape [C, H, W].
func (d *Dataset) Shape() []int64 { return []int64{int64(d.C), int64(d.H), int64(d.W)} }

// Matches returns an error unless d has classes classes of images of shape
// image [C, H, W], as a model, checkpoint or export expects.
func (d *Dataset) Matches(classes int, image []int64) error {
	if d.Classes != classes || !slices.Equal(d.Shape(), image) {
		return fmt.Errorf("%s %s has %d classes of %d×%d×%d images; expected %d classes of %v",
			d.Name, d.Split, d.Classes, d.C, d.H, d.W, classes, image)
	}
	return nil
}

// Image returns image i as a [C, H, W] slice of d.Images (not a copy).
func (d *Dataset) Image(i int) []float32 {
	n := d.ImageSize()
	return d.Images[i*n : (i+1)*n]
}

// Subset returns a new Dataset holding copies of the images and labels at
// idx, in that order. It panics if an index is out of range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := *d
	n := d.ImageSize()
	s.N = len(idx)
	s.Images = make([]float32, len(idx)*n)
	s.Labels = make([]int64, len(idx))
	for k, i := range idx {
		copy(s.Images[k*n:(k+1)*n], d.Image(i))
		s.Labels[k] = d.Labels[i]
	}
	return &s
}

// Names returns the data set names Load accepts besides "medmnist:<flag>",
// which names one single-label 2-D MedMNIST v2 set ("medmnist:dermamnist";
// see MedMNISTSets), while plain "medmnist" reads any MedMNIST .npz file.
func Names() []string {
	return []string{"cifar10", "cifar100", "cifar100-coarse", "medmnist", "fashion-mnist", "mnist"}
}

// MedMNISTPrefix starts the names of the MedMNIST data sets: "medmnist:dermamnist".
const MedMNISTPrefix = "medmnist:"

// medMNISTFlag returns the MedMNIST set a "medmnist:<flag>" name names, and
// whether name has that form and names a set taet reads.
func medMNISTFlag(name string) (string, bool) {
	flag, ok := strings.CutPrefix(name, MedMNISTPrefix)
	if !ok {
		return "", false
	}
	_, err := LookupMedMNIST(flag)
	return flag, err == nil
}

// Splits returns the split names Load accepts for the named data set, or nil
// for an unknown name.
func Splits(name string) []string {
	switch name {
	case "cifar10", "cifar100", "cifar100-coarse", "fashion-mnist", "mnist":
		return []string{"train", "test"}
	case "medmnist":
		return []string{"train", "val", "test"}
	}
	if _, ok := medMNISTFlag(name); ok {
		return []string{"train", "val", "test"}
	}
	return nil
}

// ClassNames returns the class names Load gives the named data set, or nil
// where its format names no classes (mnist, plain medmnist) or the name is
// unknown.
func ClassNames(name string) []string {
	if flag, ok := medMNISTFlag(name); ok {
		info, _ := LookupMedMNIST(flag)
		return slices.Clone(info.ClassNames)
	}
	switch name {
	case "cifar10":
		return slices.Clone(cifar10Names)
	case "cifar100":
		return slices.Clone(cifar100FineNames)
	case "cifar100-coarse":
		return slices.Clone(cifar100CoarseNames)
	case "fashion-mnist":
		return slices.Clone(fashionMNISTNames)
	}
	return nil
}

// ClassNamesOf is ClassNames for the data set name read from path: for plain
// medmnist, the names of the MedMNIST set the file is named after
// (dermamnist.npz: DermaMNIST's).
func ClassNamesOf(name, path string) []string {
	if name == "medmnist" {
		name = MedMNISTPrefix + strings.TrimSuffix(filepath.Base(path), ".npz")
	}
	return ClassNames(name)
}

// Load reads one split of the named data set (see Names) from path:
//
//	cifar10          LoadCIFAR10(path, split)
//	cifar100         LoadCIFAR100(path, split, true): the 100 fine labels
//	cifar100-coarse  LoadCIFAR100(path, split, false): the 20 coarse labels
//	medmnist         LoadMedMNIST(path, split), path the .npz file
//	medmnist:<flag>  the same, with the classes of MedMNIST set <flag> whatever the file's name
//	fashion-mnist    LoadFashionMNIST(path, split)
//	mnist            LoadMNIST(path, split)
func Load(name, path, split string) (*Dataset, error) {
	if !slices.Contains(Splits(name), split) {
		if flag, ok := strings.CutPrefix(name, MedMNISTPrefix); ok && Splits(name) == nil {
			_, err := LookupMedMNIST(flag)
			return nil, err
		}
		if Splits(name) == nil {
			return nil, fmt.Errorf("unknown data set %q (want one of %v)", name, Names())
		}
		return nil, fmt.Errorf("%s has no split %q (want one of %v)", name, split, Splits(name))
	}
	switch name {
	case "cifar10":
		return LoadCIFAR10(path, split)
	case "cifar100":
		return LoadCIFAR100(path, split, true)
	case "cifar100-coarse":
		return LoadCIFAR100(path, split, false)
	case "medmnist":
		return LoadMedMNIST(path, split)
	case "fashion-mnist":
		return LoadFashionMNIST(path, split)
	case "mnist":
		return LoadMNIST(path, split)
	}
	flag, _ := medMNISTFlag(name)
	return loadMedMNIST(path, split, flag)
}

// FormatError reports a data file whose contents are not what its format
// requires: a bad magic number or header, a size that does not add up, a
// label out of range, a missing archive member.
type FormatError struct {
	File   string // the file; "archive:member" for a member of a .tar.gz or .npz
	Offset int64  // byte offset of the problem in the (decompressed) file, or -1
	Msg    string // what was found and what was expected
}

func (e *FormatError) Error() string {
	if e.Offset < 0 {
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
}

// formatErrorf returns a *FormatError with a formatted message.
func formatErrorf(file string, offset int64, format string, args ...any) error {
	return &FormatError{File: file, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// pixels maps a stored byte v to the float32 pixel v/255 (float32
// division, as torchvision's ToTensor computes it).
var pixels = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(v) / 255
	}
	return t
}()

// ClassCounts returns the number of labels equal to c, for c in
// [0, classes). It panics if a label is outside that range.
func ClassCounts(labels []int64, classes int) []int {
	counts := make([]int, classes)
	for i, y := range labels {
		if y < 0 || y >= int64(classes) {
			panic(fmt.Sprintf("data: label %d at index %d out of range [0, %d)", y, i, classes))
		}
		counts[y]++
	}
	return counts
}

// ImbalanceRatio returns max(counts)/min(counts), the imbalance ratio of a
// split: 1 when balanced, +Inf when a class is empty, NaN when all are.
func ImbalanceRatio(counts []int) float64 {
	if len(counts) == 0 {
		return math.NaN()
	}
	return float64(slices.Max(counts)) / float64(slices.Min(counts))
}

// Groups splits the classes into thirds by size: classes are ranked by
// count, largest first (ties by class index), the first ⌊C/3⌋ are the head,
// the last ⌊C/3⌋ the tail, and the rest the medium classes. Each group is
// returned in rank order. For CIFAR-10-LT that is head = classes 0–2,
// medium = 3–6, tail = 7–9; for CIFAR-100-LT 33/34/33 classes.
//
// Thirds rather than the many/medium/few-shot thresholds of Liu et al.
// (more than 100 / 20–100 / fewer than 20 training images) because those
// thresholds leave CIFAR-10-LT without few-shot classes and say nothing
// about MedMNIST, while thirds are defined for every data set and ratio.
func Groups(counts []int) (head, medium, tail []int) {
	rank := make([]int, len(counts))
	for c := range rank {
		rank[c] = c
	}
	slices.SortStableFunc(rank, func(a, b int) int { return counts[b] - counts[a] })
	third := len(counts) / 3
	m := len(rank) - third
	return rank[:third:third], rank[third:m:m], rank[m:]
}
