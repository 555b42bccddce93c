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

// MedMNISTInfo is what MedMNIST v2's INFO table (medmnist/info.py,
// version 2.1.0) says about one of its data sets.
type MedMNISTInfo struct {
	Flag       string   // the file name without ".npz": "dermamnist"
	Task       string   // "multi-class", "binary-class" or "ordinal-regression"
	ClassNames []string // by label; len is the number of classes
}

// medMNISTInfo holds the single-label 2-D MedMNIST v2 data sets, the ones
// taet reads. ChestMNIST (multi-label) and the 3-D sets are left out.
var medMNISTInfo = []MedMNISTInfo{
	{"pathmnist", "multi-class", []string{"adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
		"normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"}},
	{"dermamnist", "multi-class", []string{"actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
		"benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"}},
	{"octmnist", "multi-class", []string{"choroidal neovascularization", "diabetic macular edema", "drusen", "normal"}},
	{"pneumoniamnist", "binary-class", []string{"normal", "pneumonia"}},
	{"retinamnist", "ordinal-regression", []string{"0", "1", "2", "3", "4"}},
	{"breastmnist", "binary-class", []string{"malignant", "normal, benign"}},
	{"bloodmnist", "multi-class", []string{"basophil", "eosinophil", "erythroblast",
		"immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte", "neutrophil", "platelet"}},
	{"tissuemnist", "multi-class", []string{"Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
		"Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes", "Podocytes",
		"Proximal Tubule Segments", "Thick Ascending Limb"}},
	{"organamnist", "multi-class", organNames},
	{"organcmnist", "multi-class", organNames},
	{"organsmnist", "multi-class", organNames},
}

// organNames are the classes of OrganAMNIST, OrganCMNIST and OrganSMNIST.
var organNames = []string{"bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right",
	"liver", "lung-left", "lung-right", "pancreas", "spleen"}

// medMNISTUnsupported names the MedMNIST v2 sets taet refuses, and why.
var medMNISTUnsupported = map[string]string{
	"chestmnist":      "multi-label",
	"organmnist3d":    "3-D",
	"nodulemnist3d":   "3-D",
	"adrenalmnist3d":  "3-D",
	"fracturemnist3d": "3-D",
	"vesselmnist3d":   "3-D",
	"synapsemnist3d":  "3-D",
}

// MedMNISTSets returns the single-label 2-D MedMNIST v2 data sets taet
// reads, in the order of MedMNIST's table. The result is a copy.
func MedMNISTSets() []MedMNISTInfo {
	sets := slices.Clone(medMNISTInfo)
	for i := range sets {
		sets[i].ClassNames = slices.Clone(sets[i].ClassNames)
	}
	return sets
}

// LookupMedMNIST returns the MedMNIST v2 data set flag names ("dermamnist";
// a size suffix "_64", "_128" or "_224" is ignored). For ChestMNIST and
// the 3-D sets the error says they are not supported and why.
func LookupMedMNIST(flag string) (MedMNISTInfo, error) {
	base := flag
	for _, s := range []string{"_64", "_128", "_224"} {
		base = strings.TrimSuffix(base, s)
	}
	if i := slices.IndexFunc(medMNISTInfo, func(m MedMNISTInfo) bool { return m.Flag == base }); i >= 0 {
		return medMNISTInfo[i], nil
	}
	if why, ok := medMNISTUnsupported[base]; ok {
		return MedMNISTInfo{}, fmt.Errorf("MedMNIST %s is %s: taet reads the single-label 2-D sets (%s)", base, why, strings.Join(medMNISTFlags(), ", "))
	}
	return MedMNISTInfo{}, fmt.Errorf("no MedMNIST v2 data set %q (want one of %s)", flag, strings.Join(medMNISTFlags(), ", "))
}

// medMNISTFlags returns the flags of medMNISTInfo.
func medMNISTFlags() []string {
	var flags []string
	for _, m := range medMNISTInfo {
		flags = append(flags, m.Flag)
	}
	return flags
}

// LoadMedMNIST reads the train, val or test split of a MedMNIST .npz file
// such as dermamnist.npz. The file is a zip archive (entries stored or
// deflated) of .npy arrays <split>_images, uint8 [N, H, W] (grayscale) or
// [N, H, W, 3] (RGB), and <split>_labels, any integer type, [N, 1] or [N].
// Images become [N, C, H, W]. Name is the file's base name without
// ".npz"; where that names a MedMNIST v2 set (LookupMedMNIST), Classes and
// ClassNames come from its INFO table, else Classes is the largest label + 1
// of the split read and ClassNames is nil.
func LoadMedMNIST(path, split string) (*Dataset, error) {
	return loadMedMNIST(path, split, strings.TrimSuffix(filepath.Base(path), ".npz"))
}

// loadMedMNIST is LoadMedMNIST for the set named name, whatever the file is called.
func loadMedMNIST(path, split, name string) (*Dataset, error) {
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
	if info, err := LookupMedMNIST(name); err == nil {
		d.Classes, d.ClassNames = len(info.ClassNames), slices.Clone(info.ClassNames)
	} else if d.N > 0 {
		d.Classes = int(max(slices.Max(d.Labels), 0)) + 1
	}
	for i, y := range d.Labels {
		if y < 0 || y >= int64(d.Classes) {
			return nil, formatErrorf(lb.file, -1, "label %d of image %d out of range [0, %d) for %s", y, i, d.Classes, name)
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
