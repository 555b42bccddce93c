package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/attacks"
	"github.com/taet-ml/taet/onnx"
	"github.com/taet-ml/taet/onnx/ort"
)

// onnxTarget attacks an ONNX file exported by `taetctl export` (x → logits,
// dynamic batch). The file has no gradient graph, so only gradient-free
// attacks (square) can run on it; the metadata export wrote gives the
// classes, the image shape and the data set.
func onnxTarget(o evalOptions, g globalOptions) (*evalTarget, error) {
	b, err := os.ReadFile(o.Checkpoint)
	if err != nil {
		return nil, dataError{err}
	}
	m, err := onnx.Unmarshal(b)
	if err != nil {
		return nil, dataError{fmt.Errorf("%s: %w", o.Checkpoint, err)}
	}
	meta := map[string]string{}
	for _, p := range m.GetMetadataProps() {
		meta[p.GetKey()] = p.GetValue()
	}
	classes, err := strconv.Atoi(meta["num_classes"])
	var shape []string
	if s := strings.Trim(meta["input_shape"], "[]"); s != "" {
		shape = strings.Split(s, ",")
	}
	if err != nil || len(shape) != 4 {
		return nil, dataError{fmt.Errorf("%s: no num_classes and input_shape metadata: not a file written by taetctl export", o.Checkpoint)}
	}
	image := make([]int64, 3)
	for i := range image {
		if image[i], err = strconv.ParseInt(shape[i+1], 10, 64); err != nil {
			return nil, dataError{fmt.Errorf("%s: input_shape %q: %v", o.Checkpoint, meta["input_shape"], err)}
		}
	}
	specs, err := o.specs()
	if err != nil {
		return nil, usageError{err}
	}
	for _, s := range specs {
		if _, ok := s.Attack.(attacks.Square); !ok {
			return nil, usagef("attack %s needs input gradients, which an exported ONNX file does not have; use --attacks square, or evaluate the checkpoint", s.Name)
		}
	}
	dev, _ := ort.ParseDevice(o.Device)
	sess, err := ort.NewSession(b, []string{"x"}, []string{"logits"}, ort.Options{Threads: g.Threads, Device: dev})
	if err != nil {
		return nil, err
	}
	lo := &logitsOracle{s: sess, classes: classes}
	if lo.x, err = ort.NewZeros[float32](int64(o.Batch), image[0], image[1], image[2]); err != nil {
		sess.Close()
		return nil, err
	}
	if lo.logits, err = ort.NewZeros[float32](int64(o.Batch), int64(classes)); err != nil {
		sess.Close()
		lo.x.Close()
		return nil, err
	}
	var names []string
	json.Unmarshal([]byte(meta["class_names"]), &names)
	sum := sha256.Sum256(b)
	return &evalTarget{
		model: meta["model"], classes: classes, image: image, classNames: names,
		identity: hex.EncodeToString(sum[:]), dataset: meta["dataset"],
		oracles: func(float64) attacks.OracleSet { return func(string) (attacks.Oracle, error) { return lo, nil } },
		close:   func() { sess.Close(); lo.x.Close(); lo.logits.Close() },
	}, nil
}

// logitsOracle evaluates an x → logits session: logits only, no gradients.
type logitsOracle struct {
	s         *ort.Session
	x, logits *ort.Tensor[float32]
	classes   int
}

var _ attacks.Oracle = (*logitsOracle)(nil)

func (o *logitsOracle) Batch() int   { return int(o.x.Shape()[0]) }
func (o *logitsOracle) Classes() int { return o.classes }
func (o *logitsOracle) Loss() string { return "ce" }

func (o *logitsOracle) Eval(x []float32, _, _ []int64, logits, grad []float32) error {
	if grad != nil {
		return fmt.Errorf("an exported ONNX file gives logits only, no input gradients")
	}
	copy(o.x.Data(), x)
	if err := o.s.Run([]ort.Value{o.x}, []ort.Value{o.logits}); err != nil {
		return err
	}
	copy(logits, o.logits.Data())
	return nil
}
