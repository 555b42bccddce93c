package export

import (
	"encoding/json"
	"fmt"
	"github.com/taet-ml/taet/checkpoint"
	"slices"
	"strconv"
	"strings"

	"github.com/taet-ml/taet/models"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// Metadata returns the key/value pairs ONNX stores in metadata_props and
// SafeTensors in __metadata__:
//
//	taet_version        taet's version (o.Version), when set
//	model               models.ByName name; width its width multiplier
//	stem                cifar or imagenet (ResNets)
//	num_classes         K, the length of a logits row
//	class_names         JSON array of K names, when known
//	input               x; input_shape [N,C,H,W], input_layout NCHW,
//	                    input_dtype float32, input_range [0,1] (raw pixels,
//	                    no normalisation)
//	output              logits (unnormalised scores, [N,K])
//
// and, from the checkpoint: method, stages ("ce:40,hel:60"), train_eps (when
// a stage trains on PGD examples), dataset, imbalance_ratio, epochs
// (finished), clean_bacc and robust_bacc of the last epoch with eval_size
// (test images asked for) and robust_attack (when the run evaluated),
// checkpoint_taet_version; head (cosine, with head_scale and head_gamma)
// for a cosine classifier, and logit_adjustment (JSON {"scale", "bias"})
// for a network whose logits are adjusted at inference (RoBal's: in the
// ONNX graph, not in the safetensors parameters).
// Numbers are written in Go's shortest form ("0.031", "10"). ONNX adds
// batchnorm: folded or kept.
func Metadata(n *checkpoint.Network, o Options) map[string]string {
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	m := map[string]string{
		"model":        n.Model,
		"width":        num(n.Options.Width),
		"num_classes":  strconv.Itoa(n.Options.Classes),
		"input":        "x",
		"input_shape":  fmt.Sprintf("[%s,%d,%d,%d]", BatchDim, n.Image[0], n.Image[1], n.Image[2]),
		"input_layout": "NCHW",
		"input_dtype":  "float32",
		"input_range":  "[0,1]",
		"output":       "logits",
	}
	if o.Version != "" {
		m["taet_version"] = o.Version
	}
	if w, bn := n.Values["conv1.weight"], n.Values["bn1.weight"]; strings.HasPrefix(n.Model, "resnet") && len(bn) > 0 {
		m["stem"] = "cifar"
		if int64(len(w)) == 49*int64(len(bn))*n.Image[0] { // a 7×7 kernel
			m["stem"] = "imagenet"
		}
	}
	if len(n.ClassNames) == n.Options.Classes {
		b, _ := json.Marshal(n.ClassNames) // []string always marshals
		m["class_names"] = string(b)
	}
	if h := n.Options.Head; h.Kind == models.CosineHead {
		m["head"], m["head_scale"], m["head_gamma"] = string(h.Kind), num(h.Scale), num(h.Gamma)
	}
	if a := n.Options.Adjust; a != nil {
		b, _ := json.Marshal(map[string]any{"scale": a.Scale, "bias": a.Bias}) // numbers always marshal
		m["logit_adjustment"] = string(b)
	}
	if st := n.State; st != nil {
		c := st.Config
		m["method"] = c.Method
		var stages []string
		adversarial := false
		for _, s := range c.Stages {
			stages = append(stages, fmt.Sprintf("%s:%d", s.Name, s.Epochs))
			adversarial = adversarial || s.Adversarial()
		}
		m["stages"] = strings.Join(stages, ",")
		if adversarial {
			m["train_eps"] = num(c.PGD.Eps)
		}
		m["dataset"] = c.Dataset
		m["imbalance_ratio"] = num(c.IR)
		m["epochs"] = strconv.Itoa(len(st.Metrics))
		if last := len(st.Metrics) - 1; last >= 0 && c.EvalSize > 0 {
			m["clean_bacc"] = num(st.Metrics[last].CleanBAcc)
			m["robust_bacc"] = num(st.Metrics[last].RobustBAcc)
			m["eval_size"] = strconv.Itoa(c.EvalSize)
			m["robust_attack"] = fmt.Sprintf("pgd eps=%s step=%s steps=%d start=%s", num(c.PGD.Eps), num(c.PGD.Step), c.PGD.Steps, c.PGD.Start)
		}
		if st.Version != "" {
			m["checkpoint_taet_version"] = st.Version
		}
	}
	return m
}

// metadataProps returns m as metadata_props, sorted by key.
func metadataProps(m map[string]string) []*onnxpb.StringStringEntryProto {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*onnxpb.StringStringEntryProto, len(keys))
	for i, k := range keys {
		out[i] = &onnxpb.StringStringEntryProto{Key: ptr(k), Value: ptr(m[k])}
	}
	return out
}
