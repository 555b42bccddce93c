package data

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// cifarPixels is the size of a CIFAR image: 3 planes of 32×32 bytes.
const cifarPixels = 3 * 32 * 32

// cifarFormat describes one of the two CIFAR binary versions.
type cifarFormat struct {
	title       string   // "CIFAR-10", for messages
	dir         string   // the directory in the archive
	archive     string   // the archive's file name
	labels      []string // the label bytes leading each record
	classes     []int    // the number of classes of each label byte
	train, test []string // the files of each split
}

var (
	cifar10Format = cifarFormat{
		title:   "CIFAR-10",
		dir:     "cifar-10-batches-bin",
		archive: "cifar-10-binary.tar.gz",
		labels:  []string{"label"},
		classes: []int{10},
		train:   []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:    []string{"test_batch.bin"},
	}
	cifar100Format = cifarFormat{
		title:   "CIFAR-100",
		dir:     "cifar-100-binary",
		archive: "cifar-100-binary.tar.gz",
		labels:  []string{"coarse label", "fine label"},
		classes: []int{20, 100},
		train:   []string{"train.bin"},
		test:    []string{"test.bin"},
	}
)

// LoadCIFAR10 reads the train (50,000 images) or test (10,000) split of
// CIFAR-10's binary version. path is the cifar-10-binary.tar.gz archive, the
// cifar-10-batches-bin directory, or a directory holding either. The
// training split is data_batch_1.bin to data_batch_5.bin in that order, the
// test split test_batch.bin. Each file is a sequence of 3073-byte records:
// a label byte in [0, 10), then the red, green and blue 32×32 planes in
// row-major order, which is already [C, H, W]. Files of any whole number of
// records are accepted.
func LoadCIFAR10(path, split string) (*Dataset, error) {
	d, err := loadCIFAR(cifar10Format, path, split, 0)
	if err != nil {
		return nil, fmt.Errorf("load cifar10 %s: %w", split, err)
	}
	d.Name, d.ClassNames = "cifar10", slices.Clone(cifar10Names)
	return d, nil
}

// LoadCIFAR100 reads the train (50,000 images) or test (10,000) split of
// CIFAR-100's binary version, with its 100 fine labels if fine is set and
// its 20 coarse labels otherwise. path is the cifar-100-binary.tar.gz
// archive, the cifar-100-binary directory, or a directory holding either.
// train.bin and test.bin are sequences of 3074-byte records: the coarse label
// byte, the fine label byte, then the 32×32 red, green and blue planes.
func LoadCIFAR100(path, split string, fine bool) (*Dataset, error) {
	name, label, names := "cifar100-coarse", 0, cifar100CoarseNames
	if fine {
		name, label, names = "cifar100", 1, cifar100FineNames
	}
	d, err := loadCIFAR(cifar100Format, path, split, label)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", name, split, err)
	}
	d.Name, d.ClassNames = name, slices.Clone(names)
	return d, nil
}

// loadCIFAR reads split from path and keeps label byte label of each record.
func loadCIFAR(f cifarFormat, path, split string, label int) (*Dataset, error) {
	var names []string
	switch split {
	case "train":
		names = f.train
	case "test":
		names = f.test
	default:
		return nil, fmt.Errorf("%s has no split %q (want train or test)", f.title, split)
	}
	files, err := readCIFARFiles(f, path, names)
	if err != nil {
		return nil, err
	}
	images, labels, err := decodeCIFAR(f, files, label)
	if err != nil {
		return nil, err
	}
	return &Dataset{
		Split: split, Images: images, Labels: labels,
		N: len(labels), C: 3, H: 32, W: 32, Classes: f.classes[label],
	}, nil
}

// namedBytes is the content of one file, named for messages.
type namedBytes struct {
	name string
	b    []byte
}

// readCIFARFiles returns the named files' contents, from a directory holding
// them, a directory holding f.dir or f.archive, or the archive itself.
func readCIFARFiles(f cifarFormat, p string, names []string) ([]namedBytes, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return readCIFARArchive(f, p, names)
	}
	switch {
	case exists(filepath.Join(p, names[0])):
	case exists(filepath.Join(p, f.dir, names[0])):
		p = filepath.Join(p, f.dir)
	case exists(filepath.Join(p, f.archive)):
		return readCIFARArchive(f, filepath.Join(p, f.archive), names)
	default:
		return nil, fmt.Errorf("%s: no %s, %s/ or %s: want %s's binary version: %w",
			p, names[0], f.dir, f.archive, f.title, fs.ErrNotExist)
	}
	files := make([]namedBytes, len(names))
	for i, n := range names {
		n = filepath.Join(p, n)
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files[i] = namedBytes{n, b}
	}
	return files, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readCIFARArchive returns the named members of the .tar.gz archive file.
func readCIFARArchive(f cifarFormat, file string, names []string) ([]namedBytes, error) {
	r, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readTarGz(f, file, r, names)
}

// readTarGz returns the regular-file members of the gzip-compressed tar
// stream r whose base names are names, in the order of names. Members are
// matched by base name, so the archive's directory name does not matter.
func readTarGz(f cifarFormat, file string, r io.Reader, names []string) ([]namedBytes, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: want %s, a gzip-compressed tar archive: %w", file, f.archive, err)
	}
	found := make(map[string]namedBytes, len(names))
	tr := tar.NewReader(zr)
	for len(found) < len(names) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read archive: %w", file, err)
		}
		base := path.Base(h.Name)
		if _, dup := found[base]; dup || h.Typeflag != tar.TypeReg || !slices.Contains(names, base) {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: read member %s: %w", file, h.Name, err)
		}
		found[base] = namedBytes{file + ":" + h.Name, b}
	}
	files := make([]namedBytes, len(names))
	for i, n := range names {
		nb, ok := found[n]
		if !ok {
			return nil, fmt.Errorf("%s: no member %s/%s: want %s's binary version: %w", file, f.dir, n, f.title, fs.ErrNotExist)
		}
		files[i] = nb
	}
	return files, nil
}

// decodeCIFAR decodes the records of files, keeping label byte label. It
// checks every file's size before it allocates.
func decodeCIFAR(f cifarFormat, files []namedBytes, label int) (images []float32, labels []int64, err error) {
	rec := len(f.classes) + cifarPixels
	n := 0
	for _, nb := range files {
		if len(nb.b) == 0 {
			return nil, nil, formatErrorf(nb.name, -1, "empty file: want %d-byte %s records", rec, f.title)
		}
		if len(nb.b)%rec != 0 {
			whole := len(nb.b) / rec
			return nil, nil, formatErrorf(nb.name, int64(whole*rec),
				"file of %d bytes ends inside record %d: want whole %d-byte %s records (%d label bytes, %d pixel bytes)",
				len(nb.b), whole, rec, f.title, len(f.classes), cifarPixels)
		}
		n += len(nb.b) / rec
	}
	images = make([]float32, n*cifarPixels)
	labels = make([]int64, n)
	i := 0
	for _, nb := range files {
		for off := 0; off < len(nb.b); off += rec {
			r := nb.b[off : off+rec]
			for j, classes := range f.classes {
				if int(r[j]) >= classes {
					return nil, nil, formatErrorf(nb.name, int64(off+j), "record %d: %s %d out of range [0, %d)",
						off/rec, f.labels[j], r[j], classes)
				}
			}
			labels[i] = int64(r[label])
			img := images[i*cifarPixels : (i+1)*cifarPixels]
			for k, v := range r[len(f.classes):] {
				img[k] = pixels[v]
			}
			i++
		}
	}
	return images, labels, nil
}

// cifar10Names are CIFAR-10's class names (batches.meta.txt).
var cifar10Names = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// cifar100CoarseNames are CIFAR-100's superclass names (coarse_label_names.txt).
var cifar100CoarseNames = []string{
	"aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
	"household_electrical_devices", "household_furniture", "insects", "large_carnivores",
	"large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
	"medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
	"vehicles_1", "vehicles_2",
}

// cifar100FineNames are CIFAR-100's class names (fine_label_names.txt).
var cifar100FineNames = []string{
	"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
	"bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
	"chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
	"dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
	"lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
	"mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
	"plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
	"rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
	"squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
	"train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
}
