"""all-MiniLM-L6-v2's six transformer layers as an ONNX graph, for ONNX Runtime to run.

:func:`transformer_graph` writes the graph (about 20 KB) around the model's own ``model.safetensors``: every weight
is an ONNX *external* tensor pointing at its bytes in that file, so ONNX Runtime reads the weights straight from it
and no converted copy is made, on disk or in memory. Linear layers are ``Gemm`` with ``transB`` because torch
stores their weights (out, in).

Inputs: ``hidden`` (tokens, 384), the embedded word pieces of a batch already layer-normalised, row after row;
``key_bias`` (batch, 1, 1, length), 0 for a real token and a large negative number for padding; ``split_shape``,
the four numbers (batch, length, heads, head size). Output: the last layer's ``states`` (tokens, 384). The
word-piece table stays outside the graph: :mod:`bot.answers.encoder` reads only the rows of words actually seen.

Each layer is BERT's, in standard ONNX operators (opset 17): query, key and value projections, scaled dot-product
attention with the key bias, output projection, residual and LayerNorm, then the feed-forward block with the exact
(erf) GELU, residual and LayerNorm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["transformer_graph"]

HIDDEN = "hidden"
KEY_BIAS = "key_bias"
SPLIT_SHAPE = "split_shape"
STATES = "states"
OPSET = 17  # LayerNormalization is a standard operator from 17 on


class _Graph:
    """The nodes and tensors of a graph being written; every name is made unique by its caller."""

    def __init__(self, weights_file: str, tensors: Mapping[str, tuple[int, tuple[int, ...]]]) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._file = weights_file
        self._tensors = tensors

    def constant(self, name: str, value: npt.ArrayLike, dtype: type[np.generic] = np.float32) -> str:
        self.initializers.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def weight(self, name: str) -> str:
        """The float32 tensor ``name`` of the weights file, by reference: (byte offset, shape) from ``tensors``."""
        offset, shape = self._tensors[name]
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape, data_location=TensorProto.EXTERNAL)
        for key, value in (("location", self._file), ("offset", offset), ("length", 4 * math.prod(shape))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        self.initializers.append(tensor)
        return name

    def op(self, kind: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(kind, inputs, [output], **attributes))
        return output


def transformer_graph(
    weights_file: str,
    tensors: Mapping[str, tuple[int, tuple[int, ...]]],
    *,
    layers: int,
    heads: int,
    width: int,
    eps: float,
) -> bytes:
    """The serialised ONNX model of the encoder layers. ``weights_file`` is the safetensors file's name (ONNX
    Runtime finds it in the folder its session is told), ``tensors`` maps each tensor's name to its byte offset in
    that file and its shape."""
    g = _Graph(weights_file, tensors)
    merge_heads = g.constant("merge_heads", [-1, width], np.int64)
    one, half, root_two = g.constant("one", 1.0), g.constant("half", 0.5), g.constant("root_two", math.sqrt(2.0))
    scale = g.constant("scale", 1.0 / math.sqrt(width // heads))
    x = HIDDEN
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def linear(source: str, name: str, output: str) -> str:
            return g.op("Gemm", [source, g.weight(f"{name}.weight"), g.weight(f"{name}.bias")], output, transB=1)

        def norm(source: str, name: str, output: str) -> str:
            weights = [g.weight(f"{name}.weight"), g.weight(f"{name}.bias")]
            return g.op("LayerNormalization", [source, *weights], output, axis=-1, epsilon=eps)

        split_heads = []  # query, key, value as (batch, heads, length, head size)
        for part in ("query", "key", "value"):
            projected = linear(x, f"{p}attention.self.{part}", f"{part}{i}")
            split = g.op("Reshape", [projected, SPLIT_SHAPE], f"{part}{i}.split")
            split_heads.append(g.op("Transpose", [split], f"{part}{i}.heads", perm=[0, 2, 1, 3]))
        query, key, value = split_heads
        query = g.op("Mul", [query, scale], f"query{i}.scaled")
        key = g.op("Transpose", [key], f"key{i}.t", perm=[0, 1, 3, 2])
        scores = g.op("Add", [g.op("MatMul", [query, key], f"scores{i}"), KEY_BIAS], f"scores{i}.masked")
        attention = g.op("Softmax", [scores], f"attention{i}", axis=-1)
        context = g.op("MatMul", [attention, value], f"context{i}")
        context = g.op("Transpose", [context], f"context{i}.t", perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, merge_heads], f"context{i}.merged")
        attended = g.op("Add", [linear(context, f"{p}attention.output.dense", f"out{i}"), x], f"out{i}.residual")
        x = norm(attended, f"{p}attention.output.LayerNorm", f"attention{i}.normed")
        up = linear(x, f"{p}intermediate.dense", f"up{i}")
        erf = g.op("Erf", [g.op("Div", [up, root_two], f"up{i}.scaled")], f"up{i}.erf")  # exact GELU:
        gelu = g.op("Mul", [up, g.op("Add", [erf, one], f"up{i}.1erf")], f"up{i}.x1erf")  # x (1 + erf(x/√2))
        gelu = g.op("Mul", [gelu, half], f"gelu{i}")  # / 2
        output = g.op("Add", [linear(gelu, f"{p}output.dense", f"down{i}"), x], f"down{i}.residual")
        x = norm(output, f"{p}output.LayerNorm", STATES if i == layers - 1 else f"layer{i}")
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2 layers",
        [
            helper.make_tensor_value_info(HIDDEN, TensorProto.FLOAT, ["tokens", width]),
            helper.make_tensor_value_info(KEY_BIAS, TensorProto.FLOAT, ["batch", 1, 1, "length"]),
            helper.make_tensor_value_info(SPLIT_SHAPE, TensorProto.INT64, [4]),
        ],
        [helper.make_tensor_value_info(STATES, TensorProto.FLOAT, ["tokens", width])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="copbot")
    model.ir_version = 8  # readable by every ONNX Runtime from 1.14 on
    serialised: bytes = model.SerializeToString()
    return serialised
