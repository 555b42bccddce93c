package data

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// medMNISTClasses are the class counts of the single-label 2-D MedMNIST v2
// data sets, by file name without ".npz" or a size suffix ("_64", "_128",
// "_224"). ChestMNIST (multi-label) and the 3-D sets are not supported.
var medMNISTClasses = map[string]int{
	"pathmnist": 9, "dermamnist": 7, "octmnist": 4, "pneumoniamnist": 2, "retinamnist": 5, "breastmnist": 2,
	"bloodmnist": 8, "tissuemnist": 8, "organamnist": 11, "organcmnist": 11, "organsmnist": 11,
}

// LoadMedMNIST reads the train, val or test split of a MedMNIST .npz file
// such as dermamnist.npz. The file is a zip archive (entries stored or
// deflated) of .npy arrays <split>_images, uint8 [N, H, W] (grayscale) or
// [N, H, W, 3] (RGB), and <split>_labels, any integer type, [N, 1] or [N].
// Images become [N, C, H, W]. Name is the file's base name without
// ".npz"; Classes comes from the data set named by it, or for a name
// not in the MedMNIST v2 list, is the largest label + 1 of the split read.
// ClassNames is nil.
func LoadMedMNIST(path, split string) (*Dataset, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".npz")
	zr, err := zip.OpenReader(path)
	if errors.Is(err, zip.ErrFormat) {
		err = formatErrorf(path, -1, "not a zip archive: want a MedMNIST .npz file: %v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, split, err)
	}
	defer zr.Close()
	d, err := decodeNPZ(path, &zr.Reader, name, split)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, split, err)
	}
	return d, nil
}

// decodeNPZ decodes split from the MedMNIST archive zr, named file.
func decodeNPZ(file string, zr *zip.Reader, name, split string) (*Dataset, error) {
	if split != "train" && split != "val" && split != "test" {
		return nil, fmt.Errorf("MedMNIST has no split %q (want train, val or test)", split)
	}
	im, err := readNPYMember(file, zr, split+"_images.npy")
	if err != nil {
		return nil, err
	}
	lb, err := readNPYMember(file, zr, split+"_labels.npy")
	if err != nil {
		return nil, err
	}
	if im.kind != 'u' || im.size != 1 {
		return nil, formatErrorf(im.file, -1, "images have dtype %s: want uint8 (|u1)", im.descr)
	}
	d := &Dataset{Name: name, Split: split, C: 1}
	switch {
	case len(im.shape) == 3:
	case len(im.shape) == 4 && (im.shape[3] == 1 || im.shape[3] == 3):
		d.C = im.shape[3]
	default:
		return nil, formatErrorf(im.file, -1, "images have shape %v: want [N, H, W] or [N, H, W, 3]", im.shape)
	}
	d.N, d.H, d.W = im.shape[0], im.shape[1], im.shape[2]
	if !slices.Equal(lb.shape, []int{d.N}) && !slices.Equal(lb.shape, []int{d.N, 1}) {
		return nil, formatErrorf(lb.file, -1, "labels have shape %v: want [%d, 1] or [%d] to match the images (multi-label sets are not supported)", lb.shape, d.N, d.N)
	}
	if d.Labels, err = lb.int64s(); err != nil {
		return nil, err
	}
	base := name
	for _, s := range []string{"_64", "_128", "_224"} {
		base = strings.TrimSuffix(base, s)
	}
	d.Classes = medMNISTClasses[base]
	if d.Classes == 0 && d.N > 0 {
		d.Classes = int(max(slices.Max(d.Labels), 0)) + 1
	}
	for i, y := range d.Labels {
		if y < 0 || y >= int64(d.Classes) {
			return nil, formatErrorf(lb.file, -1, "label %d of image %d out of range [0, %d) for %s", y, i, d.Classes, base)
		}
	}
	// [N, H, W, C] → [N, C, H, W]
	hw := d.H * d.W
	d.Images = make([]float32, len(im.data))
	for n := range d.N {
		src := im.data[n*hw*d.C : (n+1)*hw*d.C]
		dst := d.Images[n*hw*d.C : (n+1)*hw*d.C]
		for p := range hw {
			for c := range d.C {
				dst[c*hw+p] = pixels[src[p*d.C+c]]
			}
		}
	}
	return d, nil
}

// readNPYMember reads and parses the member of zr named member.
func readNPYMember(file string, zr *zip.Reader, member string) (*npyArray, error) {
	i := slices.IndexFunc(zr.File, func(f *zip.File) bool { return f.Name == member })
	if i < 0 {
		var have []string
		for _, f := range zr.File {
			have = append(have, f.Name)
		}
		return nil, formatErrorf(file, -1, "no member %s (has %v): want MedMNIST's {train,val,test}_{images,labels}.npy", member, have)
	}
	name := file + ":" + member
	r, err := zr.File[i].Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parseNPY(name, b)
}
