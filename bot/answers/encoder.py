"""Sentence vectors from all-MiniLM-L6-v2 with ONNX Runtime: sentence-transformers' vectors, without torch.

The model (a 6-layer, 384-wide BERT) is fetched by ``make model`` (``python -m deployment.fetch_model``) into
``COPBOT_MODEL_DIR``, which then writes the six layers as an ONNX graph with 8-bit weights, ``encoder.onnx``
(``python -m bot.answers.bert_graph``; see :mod:`bot.answers.bert_graph`). :meth:`SentenceEncoder.load` checks
``config.json`` and every tensor's shape in ``model.safetensors``, opens ``encoder.onnx`` when it is labelled with
this version's graph and these weights' sha256 (and otherwise writes it again, which imports ``onnx``), and leaves
the 47 MB vocabulary table in the safetensors file, reading only the rows of word pieces actually seen;
``tokenizer.json`` is read by Hugging Face ``tokenizers`` (the model's own uncased WordPiece). The layers' weights
get the shipped adapter's low-rank updates (:mod:`bot.answers.adapter`) before the graph is written, and
``encoder.onnx`` is labelled with the adapter's sha256 as well; ``adapter=None`` gives the published model.
:meth:`SentenceEncoder.encode` then does what sentence-transformers does: truncate to 256 word pieces, embed them
(numpy), run the layers (ONNX Runtime), mean-pool over the real (non-padding) tokens and L2-normalise. Texts are
encoded in batches of similar length, so padding is small.

The model directory's files (the tensors' places in ``model.safetensors``, its sha256, and ``encoder.onnx``: written,
labelled, saved and opened) are :mod:`bot.answers.model_files`'s; this module loads the tokenizer and the adapter,
embeds the word pieces, runs the layers, pools, and keeps the process's memory and threads in check.

Why 8-bit weights: memory. The int8 layers hold 11 MB of weights instead of 43 MB of float32, a lone question is
encoded ~1.5x faster (batches take as long), and each vector stays within cosine 0.998 of sentence-transformers'
(0.9994 or closer for a question). ``precision="float32"`` gives the model's vectors exactly (cosine 0.99999); the
tests use it.

A missing or damaged model directory raises :class:`EncoderUnavailable` (callers rank lexically instead).

Speed on the 2-core bench machine: one short question takes ~2.2 ms on two ONNX Runtime threads (3.3 ms in
float32 in the same run; the numpy version of these layers took 5-7 ms); in batches of 32, ~1.5 ms each.
ONNX Runtime's idle threads sleep rather than spin, so they leave the event loop's core alone between calls, and
OpenBLAS (numpy's, used by the ranker) is capped at one thread for the same reason. encode() releases the GIL while
ONNX Runtime works; encoding the programme FAQ's ~3,100 texts (with its examples) takes ~6 s (``make model`` does it
ahead: see :mod:`bot.answers.prebuilt`), so index builds still belong in a worker thread.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.answers.adapter import ADAPTER_FILE, Adapter, AdapterError
from bot.answers.model_files import (
    DIMENSION,
    EPS,
    HEADS,
    INTERMEDIATE,
    LAYERS,
    SAFETENSORS,
    VOCABULARY,
    Floats,
    Precision,
    Tensor,
    expected_shapes,
    index_safetensors,
    open_layers,
    read_tensor,
)

__all__ = [
    "MAX_TOKENS",
    "EncoderUnavailable",
    "LazyEncoder",
    "SentenceEncoder",
]

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (word pieces, [CLS] and [SEP] included)
HEAD_SIZE = DIMENSION // HEADS
# Batches: at most this many tokens (columns of the 1536-wide feed-forward activations: 1.5 MB) and attention cells
# (batch x length x length, times 12 heads: 3 MB), whichever binds first. Bigger batches are no faster, and ONNX
# Runtime's arena keeps the largest batch's activations: 256 tokens peaked 7 MB lower than 512 in
# ``python -m bench.encoder_memory`` (154.5 -> 147.2 MB, two runs, 2026-12-06) at the same time per question (a
# 1024/2^18 limit had kept 16 MB more RSS after long texts).
BATCH_TOKENS = 256
BATCH_CELLS = 1 << 16

TOKENIZER = "tokenizer.json"
CONFIG = "config.json"
_HINT = "run `make model` (python -m deployment.fetch_model) or set COPBOT_MODEL_DIR"


class EncoderUnavailable(RuntimeError):
    """The model directory is missing, incomplete or not all-MiniLM-L6-v2; the message names it and the fix."""

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(f"sentence encoder unavailable: {reason} in {directory}: {_HINT}")
        self.directory = directory
        self.reason = reason


def _layer_norm(x: Floats, weight: Floats, bias: Floats) -> Floats:
    """LayerNorm of each token, over the feature axis (the last) of x."""
    centred: Floats = x - x.mean(axis=-1, keepdims=True)
    scale = np.mean(np.square(centred), axis=-1, keepdims=True)
    scale += np.float32(EPS)
    np.sqrt(scale, out=scale)
    centred /= scale
    centred *= weight
    centred += bias
    return centred


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence vectors (384 floats, unit length); build with :meth:`load`."""

    dimension = DIMENSION

    def __init__(
        self,
        tokenizer: Any,
        path: Path,
        index: dict[str, Tensor],
        directory: Path,
        threads: int,
        precision: Precision = "int8",
        adapter: Adapter | None = None,
    ) -> None:
        self.directory = directory
        self._tokenizer = tokenizer

        def read(name: str) -> Floats:  # the small tables the embedding step keeps
            return read_tensor(path, index[name])

        # The vocabulary table (47 MB) stays in the file; only the rows of words seen are read.
        self._words = _WordTable(path, index["embeddings.word_embeddings.weight"])
        # position + token type 0 (every token of a single sentence has type 0): one table, added once
        self._positions = (
            read("embeddings.position_embeddings.weight")[:MAX_TOKENS]
            + read("embeddings.token_type_embeddings.weight")[0]
        )
        self._norm = (read("embeddings.LayerNorm.weight"), read("embeddings.LayerNorm.bias"))
        self._session = open_layers(directory, index, ort_options(threads), precision, adapter)
        # the adapter's factors (~2.7 MB) are in the graph now: only its label is kept
        self.adapter_sha256 = adapter.sha256 if adapter is not None else None
        self.precision = precision
        self.threads = threads

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        threads: int | None = None,
        precision: Precision = "int8",
        adapter: Path | None = ADAPTER_FILE,
    ) -> SentenceEncoder:
        """Opens the model in DIRECTORY (see ``deployment/fetch_model.py``); raises :class:`EncoderUnavailable`.

        ``threads``: ONNX Runtime's threads for one encode call (default: 2, or 1 on a one-CPU machine).
        ``precision``: the layers' weights; "float32" (the model exactly, built in memory each time) is for tests.
        ``adapter``: the low-rank updates added to the layers (:mod:`bot.answers.adapter`; the shipped file by
        default); None gives the published model's vectors. Only the shipped adapter's graph is kept in
        ``encoder.onnx``; another one's is built in memory each time (tests and the fitting scripts)."""
        from tokenizers import Tokenizer

        directory = Path(directory)
        if not directory.is_dir():
            raise EncoderUnavailable(directory, "the model directory does not exist")
        for name in (SAFETENSORS, TOKENIZER, CONFIG):
            if not (directory / name).is_file():
                raise EncoderUnavailable(directory, f"{name} is missing")
        try:
            config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
            expected = {
                "hidden_size": DIMENSION,
                "num_hidden_layers": LAYERS,
                "num_attention_heads": HEADS,
                "intermediate_size": INTERMEDIATE,
                "hidden_act": "gelu",
                "vocab_size": VOCABULARY,
                "layer_norm_eps": EPS,
            }
            wrong = sorted(key for key, value in expected.items() if config.get(key) != value)
        except (OSError, ValueError, AttributeError) as error:
            raise EncoderUnavailable(directory, f"{CONFIG} is unreadable ({error})") from error
        if wrong:
            raise EncoderUnavailable(directory, f"{CONFIG} is not all-MiniLM-L6-v2's ({', '.join(wrong)} differ)")
        try:
            index = index_safetensors(directory / SAFETENSORS)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error) as error:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} is unreadable ({error})") from error
        problems = [
            f"{name} {index[name].shape if name in index else 'missing'}"
            for name, shape in expected_shapes().items()
            if name not in index or index[name].shape != shape
        ]
        if problems:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} does not hold the expected tensors: {problems[:3]}")
        try:
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER))
        except Exception as error:  # tokenizers raises a bare Exception for unparsable files
            raise EncoderUnavailable(directory, f"{TOKENIZER} is unreadable ({error})") from error
        try:
            updates = Adapter.load(adapter) if adapter is not None else None
        except AdapterError as error:
            raise EncoderUnavailable(directory, f"the encoder adapter is unusable ({error})") from error
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()  # padded per batch in encode()
        threads = threads or min(2, os.cpu_count() or 1)
        tune_malloc()
        try:
            encoder = cls(tokenizer, directory / SAFETENSORS, index, directory, threads, precision, updates)
        except AdapterError as error:
            raise EncoderUnavailable(directory, f"the encoder adapter does not fit the model ({error})") from error
        except (OSError, ValueError) as error:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} is unreadable ({error})") from error
        _cap_openblas()
        release_free_memory()  # the graph file's bytes and the optimiser's copies, freed once the graph is loaded
        log.info("sentence encoder loaded from %s (%s, %d threads)", directory, precision, threads)
        return encoder

    def encode(self, texts: Sequence[str]) -> Floats:
        """(len(texts), 384) float32, each row of unit length (row i is texts[i])."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not one string")
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        ids = [np.asarray(self._tokenizer.encode(text).ids, dtype=np.int64) for text in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            stop = start + 1
            # sorted ascending, so the last one in the batch is the longest and sets the padded length
            while stop < len(order):
                length = len(ids[order[stop]])
                count = stop - start + 1
                if count * length > BATCH_TOKENS or count * length * length * HEADS > BATCH_CELLS * HEADS:
                    break
                stop += 1
            batch = order[start:stop]
            out[batch] = self._encode_batch([ids[i] for i in batch])
            start = stop
        return out

    def _encode_batch(self, ids: list[npt.NDArray[np.int64]]) -> Floats:
        """Vectors for one batch: embeddings here (rows read from the file), the layers in ONNX Runtime."""
        count, length = len(ids), max(len(row) for row in ids)
        tokens = np.zeros((count, length), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros((count, length), dtype=np.float32)
        for row, row_ids in enumerate(ids):
            tokens[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1.0
        hidden = _layer_norm(self._words[tokens] + self._positions[:length], *self._norm).reshape(-1, DIMENSION)
        # padding keys get a large negative score: exp() makes their attention weight exactly 0
        key_bias = ((mask - np.float32(1.0)) * np.float32(1e9))[:, None, None, :]
        split = np.array([count, length, HEADS, HEAD_SIZE], dtype=np.int64)
        (states,) = self._session.run(["states"], {"hidden": hidden, "key_bias": key_bias, "split_shape": split})
        pooled = np.einsum("bld,bl->bd", states.reshape(count, length, DIMENSION), mask)
        pooled /= np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Floats = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


def ort_options(threads: int) -> Any:
    """ONNX Runtime's options for the encoder's layers (``python -m bench.encoder_memory`` measures each)."""
    import onnxruntime  # here, not at the top: a process that never loads the model never loads it

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle ONNX Runtime threads sleep instead of spinning: a spinning thread would take the core the event
    # loop runs on, between questions.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No memory pattern: it plans one block per batch shape for all of a run's activations, which kept 4-15 MB
    # more resident after a busy minute than allocating each activation as it is needed.
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: its warnings are about optimisations it chose not to make
    return options


class _WordTable:
    """The word-piece table (30522 x 384 float32, 47 MB), left in the file: the rows a batch needs are read with
    ``os.pread``, one per distinct word piece. A memory map would be simpler but costs memory: with the file in the
    page cache, each fault maps the pages around it too, and after the FAQ's phrasings were encoded 41 MB of the
    table counted as resident, against the ~1.5 KB per distinct word piece actually used."""

    def __init__(self, path: Path, tensor: Tensor) -> None:
        self._file = path.open("rb")  # kept open: a model replaced on disk (by rename) does not change under us
        self._offset = tensor.offset
        self._rows, self._width = tensor.shape
        self._row_bytes = 4 * self._width

    def __getitem__(self, ids: npt.NDArray[np.int64]) -> Floats:
        """The rows of ``ids`` (any shape), as an array of shape ids.shape + (width,)."""
        distinct, where = np.unique(ids, return_inverse=True)
        if distinct.size and not 0 <= int(distinct[0]) <= int(distinct[-1]) < self._rows:
            raise IndexError("word piece id outside the table")
        table = np.empty((distinct.size, self._width), dtype=np.float32)
        fd, size = self._file.fileno(), self._row_bytes
        for row, word in enumerate(distinct.tolist()):
            data = os.pread(fd, size, self._offset + word * size)
            if len(data) != size:
                raise OSError(f"{self._file.name} is shorter than its header says")
            table[row] = np.frombuffer(data, dtype="<f4")
        rows: Floats = table[where.reshape(ids.shape)]
        return rows


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 256 * 1024


@functools.cache
def _libc() -> Any:
    """glibc, or None (musl, macOS): the memory calls below then do nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc() -> None:
    """Blocks of MMAP_THRESHOLD bytes or more get pages of their own, given back when freed. glibc otherwise raises
    that threshold each time such a block is freed (up to 32 MB), after which batches' activations, index builds'
    vectors and the graph file's bytes are carved from the heap and stay resident after they are freed."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release_free_memory() -> None:
    """Give the pages malloc holds free, in every thread's arena, back to the system (glibc's malloc_trim): after
    the model's load and an index build, whose transient copies would otherwise stay resident in the encoder
    thread's arena, where the event loop's allocations never reuse them. A few milliseconds."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _cap_openblas() -> None:
    """One OpenBLAS thread for the process: the ranker's products are small, and an idle OpenBLAS thread spins for a
    while after each call, on the core the event loop needs."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class LazyEncoder:
    """Loads the model the first time a text is encoded, so a bot that is never asked a question never pays for it
    (about 50 MB and 60 ms). Thread-safe; a failed load raises :class:`EncoderUnavailable` every time after."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._encoder: SentenceEncoder | None = None
        self._failure: EncoderUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encode(self, texts: Sequence[str]) -> Floats:
        encoder = self._encoder
        if encoder is None:
            with self._lock:
                if self._failure is not None:
                    raise self._failure
                if self._encoder is None:
                    try:
                        self._encoder = SentenceEncoder.load(self.directory)
                    except EncoderUnavailable as error:
                        self._failure = error
                        raise
                encoder = self._encoder
        return encoder.encode(texts)
