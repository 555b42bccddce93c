package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
)

// LongTailCounts returns how many images each class keeps in a long-tailed
// split:
//
//	n_c = int(nMax · (1/ir)^(c/(C−1))),  c = 0, …, C−1,
//
// in float64 and truncated, as the reference generators compute it
// (LDAM-DRW's IMBALANCECIFAR10, reused by RoBal, AT-BSL and TAET:
// int(img_max * (imb_factor**(cls_idx / (cls_num - 1.0)))), imb_factor =
// 1/ir), to the image: the power is rounded as glibc's pow rounds it (see
// pow). Class 0 is the head with nMax images. One class keeps nMax. It
// panics if classes < 1, nMax < 0, or ir is not a finite number ≥ 1.
func LongTailCounts(nMax, classes int, ir float64) []int {
	if classes < 1 || nMax < 0 || !(ir >= 1) || math.IsInf(ir, 1) {
		panic(fmt.Sprintf("data: LongTailCounts(%d, %d, %g): want nMax ≥ 0, classes ≥ 1, finite ir ≥ 1", nMax, classes, ir))
	}
	counts := make([]int, classes)
	for c := range counts {
		p := 1.0
		if classes > 1 {
			p = pow(1/ir, float64(c)/float64(classes-1))
		}
		counts[c] = int(float64(nMax) * p)
	}
	return counts
}

// LongTailMethod names LongTail's selection algorithm in SplitRecord.Method.
// A change to the algorithm gets a new name, so that old records fail to
// rebuild instead of silently drawing other images.
const LongTailMethod = "pcg-dxsm-fisher-yates/v1"

// ErrSplitMismatch is wrapped by the errors of SplitRecord.Rebuild when the
// split it draws is not the recorded one.
var ErrSplitMismatch = errors.New("split does not match its record")

// SplitRecord says how a long-tailed split was drawn, so that it can be
// rebuilt exactly and checked (Rebuild). It belongs in a run's metadata.
type SplitRecord struct {
	Dataset string  `json:"dataset"`  // the source's Dataset.Name
	Split   string  `json:"split"`    // the source's Dataset.Split
	Method  string  `json:"method"`   // LongTailMethod
	IR      float64 `json:"ir"`       // imbalance ratio n_0 / n_{C−1} asked for
	NMax    int     `json:"n_max"`    // images of class 0
	Seed    uint64  `json:"seed"`     // the seed drawn with
	SourceN int     `json:"source_n"` // images in the source split
	Counts  []int   `json:"counts"`   // images kept per class: LongTailCounts(NMax, C, IR)
	// IndicesSHA256 is the hex SHA-256 of the kept images' indices into the
	// source, ascending, each written as a little-endian uint64.
	IndicesSHA256 string `json:"indices_sha256"`
}

// LongTail returns a long-tailed subset of ds holding
// LongTailCounts(nMax, ds.Classes, ir)[c] images of class c, and the record
// that rebuilds it. nMax ≤ 0 means ds.N / ds.Classes (integer division),
// which is the reference's img_max for balanced sets: 5000 for the CIFAR-10
// training set, 1000 for its test set.
//
// Which images are kept: one generator, rand.NewPCG(seed, streamLongTail),
// serves every class in turn from class 0 to C−1. For class c the indices
// of its images in ds, ascending, are shuffled by Fisher–Yates (i from
// len−1 down to 1, swap with j uniform in [0, i], drawn by Lemire's
// multiply-and-reject on Uint64) and the first n_c are kept. The reference
// shuffles with NumPy's legacy generator instead, so the counts match it
// but the chosen images do not. The subset keeps ds's order.
//
// An error is returned if ir is not a finite number ≥ 1 or a class has
// fewer than n_c images. LongTail panics if a label is outside [0, Classes).
func LongTail(ds *Dataset, ir float64, nMax int, seed uint64) (*Dataset, SplitRecord, error) {
	if !(ir >= 1) || math.IsInf(ir, 1) {
		return nil, SplitRecord{}, fmt.Errorf("long-tail %s %s: imbalance ratio %g: want a finite number ≥ 1", ds.Name, ds.Split, ir)
	}
	if ds.Classes < 1 {
		return nil, SplitRecord{}, fmt.Errorf("long-tail %s %s: %d classes: want at least 1", ds.Name, ds.Split, ds.Classes)
	}
	if nMax <= 0 {
		nMax = ds.N / ds.Classes
	}
	have := ClassCounts(ds.Labels, ds.Classes)
	counts := LongTailCounts(nMax, ds.Classes, ir)
	byClass := make([][]int, ds.Classes)
	for c := range byClass {
		if have[c] < counts[c] {
			return nil, SplitRecord{}, fmt.Errorf("long-tail %s %s: class %d has %d images, IR %g with n_max %d needs %d",
				ds.Name, ds.Split, c, have[c], ir, nMax, counts[c])
		}
		byClass[c] = make([]int, 0, have[c])
	}
	for i, y := range ds.Labels {
		byClass[y] = append(byClass[y], i)
	}
	src := newSource(seed, streamLongTail)
	var keep []int
	for c, idx := range byClass {
		src.shuffle(idx)
		keep = append(keep, idx[:counts[c]]...)
	}
	slices.Sort(keep)
	rec := SplitRecord{
		Dataset: ds.Name, Split: ds.Split, Method: LongTailMethod,
		IR: ir, NMax: nMax, Seed: seed, SourceN: ds.N,
		Counts: counts, IndicesSHA256: hashIndices(keep),
	}
	return ds.Subset(keep), rec, nil
}

// hashIndices returns the hex SHA-256 of idx, each as a little-endian uint64.
func hashIndices(idx []int) string {
	h := sha256.New()
	var b [8]byte
	for _, i := range idx {
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Rebuild draws r's split from ds again and checks it against r: the
// source's name, split and size, the method, the counts and the hash of the
// kept indices. A difference is an error wrapping ErrSplitMismatch.
func (r SplitRecord) Rebuild(ds *Dataset) (*Dataset, error) {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("rebuild long-tailed %s %s: %s: %w", r.Dataset, r.Split, fmt.Sprintf(format, args...), ErrSplitMismatch)
	}
	switch {
	case r.Method != LongTailMethod:
		return nil, mismatch("recorded method %q, this build draws %q", r.Method, LongTailMethod)
	case ds.Name != r.Dataset || ds.Split != r.Split:
		return nil, mismatch("source is %s %s", ds.Name, ds.Split)
	case ds.N != r.SourceN:
		return nil, mismatch("source has %d images, recorded %d", ds.N, r.SourceN)
	}
	lt, got, err := LongTail(ds, r.IR, r.NMax, r.Seed)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	switch {
	case !slices.Equal(got.Counts, r.Counts):
		return nil, mismatch("counts %v, recorded %v", got.Counts, r.Counts)
	case got.IndicesSHA256 != r.IndicesSHA256:
		return nil, mismatch("kept indices hash to %s, recorded %s: the source's labels differ", got.IndicesSHA256, r.IndicesSHA256)
	}
	return lt, nil
}
