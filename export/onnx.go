package export

import (
	"fmt"
	"github.com/taet-ml/taet/checkpoint"

	"github.com/taet-ml/taet/graphs"
	"github.com/taet-ml/taet/onnx/onnxpb"
)

// Options control ONNX and SafeTensors.
type Options struct {
	// KeepBatchNorm keeps BatchNormalization nodes instead of folding them
	// into the preceding convolutions (ONNX only: a state dict always holds
	// the BatchNorm layers).
	KeepBatchNorm bool
	// Version is taet's version, written into the metadata.
	Version string
}

// ONNX returns n's inference graph with a dynamic batch dimension, its
// BatchNormalization folded into the convolutions unless o.KeepBatchNorm,
// and the metadata (see the package documentation), together with the
// number of BatchNormalization nodes folded. Graph-building failures are
// *graphs.BuildError.
func ONNX(n *checkpoint.Network, o Options) (m *onnxpb.ModelProto, folded int, err error) {
	net, err := n.Net()
	if err != nil {
		return nil, 0, err
	}
	spec := func(batch int64) graphs.GraphSpec {
		return graphs.GraphSpec{Name: n.Model, Batch: batch, Image: n.Image, Net: net}
	}
	a, err := graphs.EvalGraph(spec(probeBatches[0]), n.Values)
	if err != nil {
		return nil, 0, err
	}
	probe, err := graphs.EvalGraph(spec(probeBatches[1]), nil) // nodes only: parameters as inputs
	if err != nil {
		return nil, 0, err
	}
	m = a.Proto
	if err := makeBatchDynamic(m.Graph, probe.Proto.Graph); err != nil {
		return nil, 0, fmt.Errorf("export %s: %w", n.Model, err)
	}
	if !o.KeepBatchNorm {
		if folded, err = FoldBatchNorm(m.Graph); err != nil {
			return nil, 0, fmt.Errorf("export %s: %w", n.Model, err)
		}
	}
	if o.Version != "" {
		m.ProducerVersion = &o.Version
	}
	meta := Metadata(n, o)
	meta["batchnorm"] = "folded"
	if o.KeepBatchNorm {
		meta["batchnorm"] = "kept"
	}
	m.MetadataProps = metadataProps(meta)
	return m, folded, nil
}
