package export

import (
	"encoding/json"
	"github.com/taet-ml/taet/onnx"
	"strconv"

	"github.com/taet-ml/taet/onnx/onnxpb"
)

// Summary describes an ONNX model: what `taetctl inspect` prints.
type Summary struct {
	IRVersion       int64            `json:"ir_version"`
	Opsets          map[string]int64 `json:"opsets"` // domain ("ai.onnx" for the default) → version
	ProducerName    string           `json:"producer_name"`
	ProducerVersion string           `json:"producer_version"`
	Graph           string           `json:"graph"`
	Inputs          []TensorInfo     `json:"inputs"` // initializers listed as inputs are left out
	Outputs         []TensorInfo     `json:"outputs"`
	Nodes           int              `json:"nodes"` // in the main graph
	// Ops counts nodes by op type, subgraphs included; ops outside the
	// default domain are prefixed with theirs ("com.microsoft.FusedConv").
	Ops          map[string]int `json:"ops"`
	Initializers int            `json:"initializers"`
	// Parameters is the number of elements over all initializers of the
	// main graph (Constant nodes are not counted).
	Parameters int64             `json:"parameters"`
	Metadata   map[string]string `json:"metadata"`
}

// TensorInfo is a graph input or output.
type TensorInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"` // float32, int64, …; for other types their kind (sequence, map, optional, sparse_tensor)
	Shape []Dim  `json:"shape"` // nil when the rank is unknown
}

// Dim is one dimension of a shape: a size, a symbolic name, or unknown.
type Dim struct {
	Value int64  // the size, when Param is "" and Value > 0
	Param string // dim_param, e.g. "N"
}

// String returns the size, the name, or "?".
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value > 0:
		return strconv.FormatInt(d.Value, 10)
	}
	return "?"
}

// MarshalJSON writes a number, a string (dim_param) or null (unknown).
func (d Dim) MarshalJSON() ([]byte, error) {
	switch {
	case d.Param != "":
		return json.Marshal(d.Param)
	case d.Value > 0:
		return json.Marshal(d.Value)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Dim) UnmarshalJSON(b []byte) error {
	*d = Dim{}
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &d.Param)
	}
	return json.Unmarshal(b, &d.Value)
}

// Summarize describes m.
func Summarize(m *onnxpb.ModelProto) Summary {
	g := m.GetGraph()
	s := Summary{
		IRVersion: m.GetIrVersion(), Opsets: map[string]int64{},
		ProducerName: m.GetProducerName(), ProducerVersion: m.GetProducerVersion(),
		Graph: g.GetName(), Nodes: len(g.GetNode()), Ops: map[string]int{},
		Initializers: len(g.GetInitializer()), Metadata: map[string]string{},
	}
	for _, o := range m.GetOpsetImport() {
		s.Opsets[domainName(o.GetDomain())] = o.GetVersion()
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
		s.Parameters += onnx.Numel(t.GetDims())
	}
	for _, v := range g.GetInput() {
		if !inits[v.GetName()] {
			s.Inputs = append(s.Inputs, tensorInfo(v))
		}
	}
	for _, v := range g.GetOutput() {
		s.Outputs = append(s.Outputs, tensorInfo(v))
	}
	countOps(g, s.Ops)
	for _, p := range m.GetMetadataProps() {
		s.Metadata[p.GetKey()] = p.GetValue()
	}
	return s
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// countOps adds g's nodes, and those of its subgraphs, to ops.
func countOps(g *onnxpb.GraphProto, ops map[string]int) {
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		ops[op]++
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				countOps(a.GetG(), ops)
			}
			for _, sg := range a.GetGraphs() {
				countOps(sg, ops)
			}
		}
	}
}

func tensorInfo(v *onnxpb.ValueInfoProto) TensorInfo {
	ti := TensorInfo{Name: v.GetName()}
	t := v.GetType()
	switch {
	case t.GetTensorType() != nil:
		tt := t.GetTensorType()
		ti.DType = onnx.DTypeName(onnxpb.TensorProto_DataType(tt.GetElemType()))
		if sh := tt.GetShape(); sh != nil {
			ti.Shape = make([]Dim, len(sh.GetDim()))
			for i, d := range sh.GetDim() {
				ti.Shape[i] = Dim{Value: d.GetDimValue(), Param: d.GetDimParam()}
			}
		}
	case t.GetSequenceType() != nil:
		ti.DType = "sequence"
	case t.GetMapType() != nil:
		ti.DType = "map"
	case t.GetOptionalType() != nil:
		ti.DType = "optional"
	case t.GetSparseTensorType() != nil:
		ti.DType = "sparse_tensor"
	default:
		ti.DType = "unknown"
	}
	return ti
}
