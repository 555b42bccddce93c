// Package onnx holds what taet needs of the ONNX format itself: the protobuf
// types (package onnxpb, generated from onnx.proto), the pinned opset and IR
// versions, element types, and deterministic model reading and writing.
//
// Opset 17 with IR version 8 is the default (DESIGN.md section 4): Debian's
// python3-onnx 1.12 checks it, and ONNX Runtime 1.29 runs it. A model that
// uses an op introduced later (Col2Im, opset 18) is stamped with that opset
// instead; see MinOpset.
package onnx
