package fetch

import (
	"fmt"
	"strings"

	"github.com/taet-ml/taet/data"
)

// Source is one archive a data set is read from: where it comes from and
// how to know it arrived whole.
type Source struct {
	Name string // the name `data get` takes: "cifar10", "cifar100", "medmnist:dermamnist"
	File string // its file name in the cache and on a mirror: "cifar-10-binary.tar.gz"
	URL  string // the official download address
	// MD5 is the archive's published MD5, lowercase hex. An entry without
	// one is never accepted: Get refuses to land what it cannot verify.
	MD5  string
	Size int64 // bytes, or 0 where unpublished
}

// zenodo is MedMNIST v2's Zenodo record, which holds every <flag>.npz.
const zenodo = "https://zenodo.org/records/6496656/files/"

// medMNISTMD5 are the MD5s MedMNIST's INFO table (medmnist/info.py,
// version 2.1.0) publishes for the 28×28 files of Zenodo record 6496656.
var medMNISTMD5 = map[string]string{
	"pathmnist":      "a8b06965200029087d5bd730944a56c1",
	"dermamnist":     "0744692d530f8e62ec473284d019b0c7",
	"octmnist":       "c68d92d5b585d8d81f7112f81e2d0842",
	"pneumoniamnist": "28209eda62fecd6e6a2d98b1501bb15f",
	"retinamnist":    "bd4c0672f1bba3e3a89f0e4e876791e4",
	"breastmnist":    "750601b1f35ba3300ea97c75c52ff8f6",
	"bloodmnist":     "7053d0359d879ad8a5505303e11de1dc",
	"tissuemnist":    "ebe78ee8b05294063de985d821c1c34b",
	"organamnist":    "866b832ed4eeba67bfb9edee1d5544e6",
	"organcmnist":    "0afa5834fb105f7705a7d93372119a21",
	"organsmnist":    "e5c39f1af030238290b9557d9503af9d",
}

// Catalog returns the archives Get knows: CIFAR-10 and CIFAR-100 (binary
// versions, from the authors' page) and the single-label 2-D MedMNIST v2
// sets (from their Zenodo record).
func Catalog() []Source {
	sources := []Source{
		{Name: "cifar10", File: "cifar-10-binary.tar.gz", URL: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
			MD5: "c32a1d4ab5d03f1284b67883e8d87530", Size: 170052171},
		{Name: "cifar100", File: "cifar-100-binary.tar.gz", URL: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
			MD5: "03b5dce01913d631647c71ecec9e9cb8"},
	}
	for _, m := range data.MedMNISTSets() {
		sources = append(sources, Source{Name: data.MedMNISTPrefix + m.Flag, File: m.Flag + ".npz",
			URL: zenodo + m.Flag + ".npz?download=1", MD5: medMNISTMD5[m.Flag]})
	}
	return sources
}

// Lookup returns the source of the data set name in catalog: a Source's
// Name, or a data.Load name read from one ("cifar100-coarse" reads
// cifar100's archive).
func Lookup(catalog []Source, name string) (Source, error) {
	if name == "cifar100-coarse" {
		name = "cifar100"
	}
	for _, s := range catalog {
		if s.Name == name {
			return s, nil
		}
	}
	if flag, ok := strings.CutPrefix(name, data.MedMNISTPrefix); ok {
		if _, err := data.LookupMedMNIST(flag); err != nil {
			return Source{}, err
		}
	}
	var names []string
	for _, s := range catalog {
		names = append(names, s.Name)
	}
	return Source{}, fmt.Errorf("no download for data set %q (want one of %s)", name, strings.Join(names, ", "))
}
