// Package data reads the image data sets taet trains on, draws long-tailed
// splits from them, and serves shuffled, augmented batches. It imports the
// standard library only and never downloads: package data/fetch does, into
// a cache, on request.
//
// # Formats
//
// Every loader returns a *Dataset: float32 images [N, C, H, W] with pixel
// v/255 for stored byte v, so in [0, 1], and int64 labels [N].
//
//	cifar10          LoadCIFAR10: the binary version, data_batch_1..5.bin and test_batch.bin,
//	                 from the directory or from cifar-10-binary.tar.gz; [N, 3, 32, 32], 10 classes
//	cifar100         LoadCIFAR100: train.bin and test.bin, from the directory or
//	                 cifar-100-binary.tar.gz; fine (100) or coarse (20) labels
//	medmnist         LoadMedMNIST: a MedMNIST .npz (zip of .npy arrays, stored or deflated),
//	                 e.g. dermamnist.npz: [N, 3, 28, 28], 7 classes; splits train, val, test;
//	                 class names and task from MedMNIST v2's INFO table (MedMNISTSets);
//	                 "medmnist:dermamnist" names the set whatever the file is called
//	fashion-mnist    LoadFashionMNIST: the four IDX files, gzipped or not, as Debian's
//	mnist            dataset-fashion-mnist installs them (FashionMNISTDebianDir); LoadMNIST;
//	                 [N, 1, 28, 28], 10 classes
//
// Load picks the loader by name. The decoders check everything they read:
// a wrong magic number, a header that does not parse, a size that does not
// add up, a label out of range each give a *FormatError naming the file (an
// archive member as "archive:member"), the byte offset where it helps, and
// what was expected. A missing file is an error naming it and wrapping
// fs.ErrNotExist; a missing member of an .npz is a *FormatError.
//
// # Long-tailed splits
//
// LongTail keeps LongTailCounts(n_max, C, IR)[c] = int(n_max·(1/IR)^(c/(C−1)))
// images of class c, class 0 the head, computed to the image as the
// reference generators compute it. The images kept are a seeded random
// choice within each class (the algorithm is spelled out in LongTail's
// documentation and named by LongTailMethod). Use it on the training set, and
// on the test set for a long-tailed test set with its own IR, or evaluate on
// the balanced test set as it is. The SplitRecord it returns (JSON) holds
// the parameters, the counts and a SHA-256 of the kept indices;
// SplitRecord.Rebuild redraws the split and verifies it.
//
// Counts for the usual settings:
//
//	CIFAR-10,      n_max 5000, IR 10:  5000 3871 2997 2320 1796 1391 1077 834 645 500 = 20,431
//	CIFAR-10,      n_max 5000, IR 100: 5000 2997 1796 1077 645 387 232 139 83 50 = 12,406
//	Fashion-MNIST, n_max 6000, IR 10:  6000 4645 3596 2784 2156 1669 1292 1000 774 600 = 24,516
//	Fashion-MNIST, n_max 6000, IR 100: 6000 3596 2156 1292 774 464 278 166 100 60 = 14,886
//
// # Batches
//
// TrainBatches serves one training epoch: a seeded shuffle, CIFARAugment
// (random crop with zero padding 4, horizontal flip) or another Augment,
// and full batches only: the last N mod batch-size images of the shuffled
// order are dropped, so a graph with a static batch dimension serves every
// step. The shuffle and the augmentation are drawn from (seed, epoch)
// alone, so a run resumed at epoch k sees the batches it would have seen.
// EvalBatches serves a data set in order, unaugmented, with a short last
// batch. Both write into buffers the caller provides (the trainer binds
// them to runtime tensors) and allocate nothing per batch.
//
// # Randomness
//
// All draws come from math/rand/v2's PCG (PCG-DXSM) seeded explicitly,
// through a bounded draw and a shuffle written out in this package, so that
// a seed gives the same split and the same batches with every Go release.
// Long-tail sampling and each epoch use separate streams of the run seed.
//
// # Class groups
//
// Groups splits classes into head, medium and tail thirds ranked by count,
// for per-group metrics and for `taetctl data stats`.
package data
