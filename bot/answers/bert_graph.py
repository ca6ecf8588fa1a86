"""all-MiniLM-L6-v2's six transformer layers as an ONNX graph, for ONNX Runtime to run; and the graph file.

:func:`transformer_graph` writes the layers in standard ONNX operators (opset 17) with the weights inside the
graph. Precision ``"int8"`` (what the bot runs) stores each linear layer's weights as 8-bit integers with one scale
and zero point per block of 32 inputs (ONNX Runtime's ``MatMulNBits``, which also multiplies in int8): 11 MB
instead of 43 MB of float32, and within cosine 0.998 of the float32 vectors. Precision ``"float32"``
keeps torch's weights as they are (``Gemm`` with ``transB``, since torch stores linear weights (out, in)); the
tests use it to show the graph is the model exactly, and the int8 one is measured against it.

The bot does not import this module (nor ``onnx``, ~16 MB of memory): ``make model`` runs
``python -m bot.answers.bert_graph MODEL_DIR``, which writes the int8 graph once as ``encoder.onnx`` next to the
weights, labelled with the weights' sha256 and the graph's version so that a stale file is never used
(:mod:`bot.answers.encoder` checks both, and builds the graph in-process when they differ).

Inputs: ``hidden`` (tokens, 384), the embedded word pieces of a batch already layer-normalised, row after row;
``key_bias`` (batch, 1, 1, length), 0 for a real token and a large negative number for padding; ``split_shape``,
the four numbers (batch, length, heads, head size). Output: the last layer's ``states`` (tokens, 384). The
word-piece table stays outside the graph: :mod:`bot.answers.encoder` reads only the rows of words actually seen.

Each layer is BERT's: query, key and value projections, scaled dot-product attention with the key bias, output
projection, residual and LayerNorm, then the feed-forward block with the exact (erf) GELU, residual and LayerNorm.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["Precision", "quantize_blocks", "transformer_graph"]

log = logging.getLogger("bot.answers.bert_graph")

Precision = Literal["int8", "float32"]
Floats = npt.NDArray[np.float32]
HIDDEN = "hidden"
KEY_BIAS = "key_bias"
SPLIT_SHAPE = "split_shape"
STATES = "states"
OPSET = 17  # LayerNormalization is a standard operator from 17 on
BLOCK = 32  # inputs sharing one int8 scale and zero point
# ONNX Runtime's int8 compute for MatMulNBits (activations quantised per block too); 0 would dequantise to float32
INT8_COMPUTE = 4


def quantize_blocks(weight: Floats, block: int = BLOCK) -> tuple[npt.NDArray[np.uint8], Floats, npt.NDArray[np.uint8]]:
    """Asymmetric 8-bit quantisation of a torch linear weight (out, in), in blocks of ``block`` inputs, laid out
    as ``MatMulNBits`` reads it: codes (out, blocks, block), scales (out, blocks), zero points (out, blocks), so
    that weight ~= (codes - zero point) * scale. Each block's range includes 0, so 0 stays exact."""
    rows, width = weight.shape
    if width % block:
        raise ValueError(f"{width} inputs are not a whole number of {block}-wide blocks")
    blocks = weight.astype(np.float32).reshape(rows, width // block, block)
    low = np.minimum(blocks.min(axis=2), 0.0)
    high = np.maximum(blocks.max(axis=2), 0.0)
    scale = (high - low) / 255.0
    scale[scale == 0.0] = 1.0  # an all-zero block: any scale reproduces it
    zero = np.clip(np.round(-low / scale), 0, 255)
    codes = np.clip(np.round(blocks / scale[..., None]) + zero[..., None], 0, 255)
    return codes.astype(np.uint8), scale.astype(np.float32), zero.astype(np.uint8)


class _Graph:
    """The nodes and tensors of a graph being written; every name is made unique by its caller."""

    def __init__(self, read: Callable[[str], Floats]) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._read = read

    def constant(self, name: str, value: npt.ArrayLike, dtype: type[np.generic] = np.float32) -> str:
        self.initializers.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def weight(self, name: str) -> str:
        """The model's float32 tensor ``name``, as it is."""
        return self.constant(name, self._read(name))

    def op(self, kind: str, inputs: list[str], output: str, domain: str = "", **attributes: Any) -> str:
        self.nodes.append(helper.make_node(kind, inputs, [output], domain=domain or None, **attributes))
        return output

    def linear(self, source: str, name: str, output: str, precision: Precision) -> str:
        """``source @ weight.T + bias`` for the model's linear layer ``name``."""
        bias = self.weight(f"{name}.bias")
        if precision == "float32":
            return self.op("Gemm", [source, self.weight(f"{name}.weight"), bias], output, transB=1)
        weight = self._read(f"{name}.weight")
        codes, scales, zero = quantize_blocks(weight)
        quantized = [
            self.constant(f"{name}.weight.int8", codes, np.uint8),
            self.constant(f"{name}.weight.scales", scales),
            self.constant(f"{name}.weight.zero", zero, np.uint8),
        ]
        rows, width = weight.shape
        return self.op(
            "MatMulNBits",
            [source, *quantized, "", bias],  # the empty input is the unused g_idx
            output,
            domain="com.microsoft",
            K=width,
            N=rows,
            bits=8,
            block_size=BLOCK,
            accuracy_level=INT8_COMPUTE,
        )


def transformer_graph(
    read: Callable[[str], Floats],
    *,
    layers: int,
    heads: int,
    width: int,
    eps: float,
    precision: Precision = "int8",
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The serialised ONNX model of the encoder layers. ``read(name)`` gives the model's float32 tensor ``name``
    (torch's layout); ``metadata`` is stored in the model's metadata_props (ONNX Runtime shows it back)."""
    g = _Graph(read)
    merge_heads = g.constant("merge_heads", [-1, width], np.int64)
    one, half, root_two = g.constant("one", 1.0), g.constant("half", 0.5), g.constant("root_two", math.sqrt(2.0))
    scale = g.constant("scale", 1.0 / math.sqrt(width // heads))
    x = HIDDEN
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def linear(source: str, name: str, output: str) -> str:
            return g.linear(source, name, output, precision)

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
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="copbot")
    model.ir_version = 8  # readable by every ONNX Runtime from 1.14 on
    helper.set_model_props(model, dict(metadata or {}))
    serialised: bytes = model.SerializeToString()
    return serialised


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.answers.bert_graph MODEL_DIR``: write MODEL_DIR/encoder.onnx (``make model`` runs it)."""
    from bot.answers.encoder import EncoderUnavailable, SentenceEncoder
    from bot.answers.model_files import write_graph_file

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = write_graph_file(args.model_dir)
        SentenceEncoder.load(args.model_dir)  # opens the file just written, as the bot will
    except (EncoderUnavailable, OSError) as error:
        log.error("%s", error)
        return 1
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
