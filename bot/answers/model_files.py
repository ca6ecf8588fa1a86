"""The model directory's files: all-MiniLM-L6-v2's shape, where each tensor lies in ``model.safetensors`` and its
sha256, and ``encoder.onnx``, the layers' graph: written from the weights with the adapter's updates (the nodes are
:mod:`bot.answers.bert_graph`'s), labelled with the graph's version and the weights' and adapter's sha256, saved by a
rename, and opened in ONNX Runtime when its labels match (otherwise written again).

:mod:`bot.answers.encoder` checks the directory with these and encodes texts with the graph opened here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from bot.answers.adapter import Adapter

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]
Precision = Literal["int8", "float32"]

# all-MiniLM-L6-v2's shape (config.json and model.safetensors are checked against it)
DIMENSION = 384
LAYERS = 6
HEADS = 12
INTERMEDIATE = 1536
VOCABULARY = 30522
POSITIONS = 512
EPS = 1e-12  # BERT's LayerNorm epsilon

SAFETENSORS = "model.safetensors"
MANIFEST = "manifest.json"  # written by deployment/fetch_model.py
GRAPH_FILE = "encoder.onnx"  # the int8 layers, written by ``python -m bot.answers.bert_graph`` (make model)
# Labels in encoder.onnx's metadata. Bump GRAPH_VERSION when bert_graph's int8 graph changes: files labelled with
# another version (or other weights) are written again.
GRAPH_VERSION = "int8-block32-v2"  # v2: written with one BLAS thread (reproducible)
GRAPH_VERSION_KEY = "copbot.graph_version"
WEIGHTS_KEY = "copbot.weights_sha256"
ADAPTER_KEY = "copbot.adapter_sha256"


@dataclass(frozen=True, slots=True)
class Tensor:
    offset: int  # in bytes from the start of the file
    shape: tuple[int, ...]


def index_safetensors(path: Path) -> dict[str, Tensor]:
    """Where each float32 tensor lies in a safetensors file: an 8-byte little-endian header size, a JSON header
    of ``{name: {dtype, shape, data_offsets: [begin, end)}}``, then the raw little-endian data."""
    with path.open("rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if not 2 <= header_size <= 1 << 20:
            raise ValueError(f"implausible header size {header_size}")
        header: dict[str, Any] = json.loads(handle.read(header_size))
    data_start, size = 8 + header_size, path.stat().st_size
    index: dict[str, Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = (data_start + int(offset) for offset in info["data_offsets"])
        shape = tuple(int(n) for n in info["shape"])
        if not data_start <= begin <= end <= size or end - begin != 4 * math.prod(shape):
            raise ValueError(f"tensor {name} lies outside the file or has the wrong size")
        index[name] = Tensor(begin, shape)
    return index


def read_tensor(path: Path, entry: Tensor) -> Floats:
    array = np.fromfile(path, dtype="<f4", count=math.prod(entry.shape), offset=entry.offset)
    return array.astype(np.float32, copy=False).reshape(entry.shape)


def weights_sha256(directory: Path) -> str:
    """The sha256 of DIRECTORY's model.safetensors: the one its manifest.json records (fetch_model checked it and
    writes the manifest last), or, without a manifest, computed (~0.2 s)."""
    try:
        recorded = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["files"][SAFETENSORS]
        if isinstance(recorded, str) and len(recorded) == 64:
            return recorded
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    with (directory / SAFETENSORS).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _graph_bytes(
    path: Path,
    index: dict[str, Tensor],
    precision: Precision,
    adapter: Adapter | None,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """The layers' ONNX graph, written now (this imports ``onnx``: ~16 MB that the prebuilt file saves), with
    ``adapter``'s updates added to the weights."""
    from threadpoolctl import threadpool_limits

    from bot.answers.bert_graph import transformer_graph

    def read(name: str) -> Floats:
        tensor = read_tensor(path, index[name])
        return adapter.apply(name, tensor) if adapter is not None else tensor

    # One BLAS thread, whatever the process set: with two, OpenBLAS may sum the adapter's products in another
    # order on some CPUs, and the int8 weights then round differently (vectors ~4e-4 apart between `make model`
    # and a graph written by a test process, measured on an AVX2-only AMD EPYC)
    with threadpool_limits(limits=1, user_api="blas"):
        return transformer_graph(
            read, layers=LAYERS, heads=HEADS, width=DIMENSION, eps=EPS, precision=precision, metadata=metadata
        )


def write_graph_file(directory: Path) -> Path:
    """Writes DIRECTORY/encoder.onnx (the int8 graph with the shipped adapter, labelled with its version, the
    weights' sha256 and the adapter's) by a rename, so a reader sees the old file or the new one, never half of
    one. Raises OSError or ValueError (AdapterError included)."""
    directory = Path(directory)
    path = directory / SAFETENSORS
    adapter = Adapter.load()
    graph = _graph_bytes(path, index_safetensors(path), "int8", adapter, _labels(directory, adapter))
    return _save_graph(directory, graph)


def _labels(directory: Path, adapter: Adapter) -> dict[str, str]:
    """What encoder.onnx is labelled with: the graph's version, the weights' sha256 and the adapter's."""
    return {GRAPH_VERSION_KEY: GRAPH_VERSION, WEIGHTS_KEY: weights_sha256(directory), ADAPTER_KEY: adapter.sha256}


def _save_graph(directory: Path, data: bytes) -> Path:
    target = directory / GRAPH_FILE
    partial = target.with_name(f".{GRAPH_FILE}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def open_layers(
    directory: Path, index: dict[str, Tensor], options: Any, precision: Precision, adapter: Adapter | None
) -> Any:
    """An ONNX Runtime session of the layers: from encoder.onnx when it is this version's graph of these weights
    and the shipped adapter (what ``make model`` leaves), otherwise from a graph written now, which is also saved
    for next time when the directory is writable. A float32 graph, or one with another adapter (or none), is
    built in memory and not saved. Raises ValueError when ONNX Runtime refuses the graph."""
    import onnxruntime

    def session(graph: bytes | str) -> Any:
        try:
            return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own classes, derived from Exception only
            raise ValueError(f"ONNX Runtime refused the graph: {error}") from error

    path = directory / SAFETENSORS
    if precision == "float32" or adapter is None or not adapter.shipped:
        return session(_graph_bytes(path, index, precision, adapter))
    built = directory / GRAPH_FILE
    wanted = _labels(directory, adapter)
    if built.is_file():
        try:
            ready = session(str(built))
        except ValueError as error:
            log.warning("%s is unusable, writing it again: %s", built, error)
        else:
            labels = ready.get_modelmeta().custom_metadata_map
            if all(labels.get(key) == value for key, value in wanted.items()):
                return ready
            log.warning("%s is for other weights or an older graph (%s), writing it again", built, labels)
    log.warning("writing the encoder graph in this process (run `make model` to write %s ahead)", built)
    graph = _graph_bytes(path, index, precision, adapter, wanted)
    try:
        _save_graph(directory, graph)
    except OSError as error:
        log.warning("could not save %s (%s); the graph will be written again at the next start", built, error)
    return session(graph)


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The tensors ``model.safetensors`` must hold (all-MiniLM-L6-v2's), with their shapes, by name."""
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (VOCABULARY, DIMENSION),
        "embeddings.position_embeddings.weight": (POSITIONS, DIMENSION),
        "embeddings.token_type_embeddings.weight": (2, DIMENSION),
        "embeddings.LayerNorm.weight": (DIMENSION,),
        "embeddings.LayerNorm.bias": (DIMENSION,),
    }
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (DIMENSION, DIMENSION)
            shapes[f"{p}attention.self.{name}.bias"] = (DIMENSION,)
        shapes[f"{p}attention.output.dense.weight"] = (DIMENSION, DIMENSION)
        shapes[f"{p}intermediate.dense.weight"] = (INTERMEDIATE, DIMENSION)
        shapes[f"{p}intermediate.dense.bias"] = (INTERMEDIATE,)
        shapes[f"{p}output.dense.weight"] = (DIMENSION, INTERMEDIATE)
        for name in ("attention.output.dense.bias", "output.dense.bias"):
            shapes[p + name] = (DIMENSION,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}{norm}.weight"] = (DIMENSION,)
            shapes[f"{p}{norm}.bias"] = (DIMENSION,)
    return shapes
