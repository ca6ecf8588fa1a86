"""Sentence vectors from all-MiniLM-L6-v2 in plain numpy: the same numbers as sentence-transformers, without torch.

The model (a 6-layer, 384-wide BERT) is fetched by ``make model`` (``python -m deployment.fetch_model``) into
``COPBOT_MODEL_DIR``. :meth:`SentenceEncoder.load` checks ``config.json`` and every tensor's shape in
``model.safetensors``, reads the layers' weights (43 MB of float32) into memory and memory-maps the 47 MB vocabulary
table, so only the pages of word pieces actually seen are ever read (a few MB); ``tokenizer.json`` is read by
Hugging Face ``tokenizers`` (the model's own uncased WordPiece). :meth:`SentenceEncoder.encode`
then does what sentence-transformers does: truncate to 256 word pieces, run BERT in float32, mean-pool over the
real (non-padding) tokens and L2-normalise. Texts are encoded in batches of similar length, so padding is small.

A missing or damaged model directory raises :class:`EncoderUnavailable` (callers rank lexically instead).

Threads: one short question is memory-bound (the 43 MB of weights stream through the cache once per text), and a
second BLAS thread nearly halves its time (~12.7 ms -> ~7.3 ms on the 2-core bench machine); bigger batches are
compute-bound, run at ~3.6 ms per question on one thread, and a second thread there only takes a core the event
loop needs. :meth:`SentenceEncoder.load` therefore caps BLAS at one thread for the process (``blas_threads``, via
``threadpoolctl``) and :meth:`SentenceEncoder.encode` raises it to ``burst_threads`` for the length of one call
when the batch is at most ``BURST_TOKENS`` word pieces: a lone question at a quiet moment. Under load, questions
queue and are encoded together (see :mod:`bot.answers.batching`), so they run on one thread. encode() holds the
GIL only between numpy calls; the 300 FAQ phrasings take ~1.2 s, so index building belongs in a worker thread,
not the loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DIMENSION", "MAX_TOKENS", "EncoderUnavailable", "LazyEncoder", "SentenceEncoder", "gelu"]

log = logging.getLogger(__name__)

Floats = npt.NDArray[np.float32]

DIMENSION = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (word pieces, [CLS] and [SEP] included)
LAYERS = 6
HEADS = 12
HEAD_SIZE = DIMENSION // HEADS
INTERMEDIATE = 1536
VOCABULARY = 30522
POSITIONS = 512
EPS = 1e-12  # BERT's LayerNorm epsilon
# Batches: at most this many tokens (columns of the 1536-wide feed-forward activations: 3 MB) and attention cells
# (batch x length x length, times 12 heads: 3 MB), whichever binds first. Bigger batches are no faster, and leave
# more freed memory behind in the process (a 1024/2^18 limit kept 16 MB more RSS after long texts).
BATCH_TOKENS = 512
BATCH_CELLS = 1 << 16
BURST_TOKENS = 96  # a batch this small (one or two questions) may use ``burst_threads`` BLAS threads

SAFETENSORS = "model.safetensors"
TOKENIZER = "tokenizer.json"
CONFIG = "config.json"
_HINT = "run `make model` (python -m deployment.fetch_model) or set COPBOT_MODEL_DIR"


class EncoderUnavailable(RuntimeError):
    """The model directory is missing, incomplete or not all-MiniLM-L6-v2; the message names it and the fix."""

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(f"sentence encoder unavailable: {reason} in {directory}: {_HINT}")
        self.directory = directory
        self.reason = reason


# Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): numpy has no erf, and this model's GELU is the exact, erf one.
_P = np.float32(0.3275911)
_A = tuple(np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))
_SQRT_HALF = np.float32(math.sqrt(0.5))


def gelu(x: Floats) -> Floats:
    """0.5 x (1 + erf(x / sqrt 2)), within 1e-6 of the exact function everywhere.

    Written as relu(x) - 0.5 |x| erfc(|x| / sqrt 2), with erfc(z) ~ poly(t) exp(-z^2), t = 1 / (1 + p z), in place
    on as few temporaries as possible (this is a sizeable part of a short sentence's time)."""
    c = np.abs(x)
    c *= _SQRT_HALF
    t = c * _P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    np.square(c, out=c)
    np.negative(c, out=c)
    np.exp(c, out=c)
    poly = t * _A[4]
    for coefficient in (_A[3], _A[2], _A[1], _A[0]):
        poly += coefficient
        poly *= t
    c *= poly  # erfc(|x| / sqrt 2)
    c *= np.abs(x)
    c *= np.float32(-0.5)
    c += np.maximum(x, np.float32(0.0))
    return c


def _layer_norm(x: Floats, weight: Floats, bias: Floats) -> Floats:
    """LayerNorm of each token, over the feature axis 0 of x (features, tokens); weight and bias are (384, 1)."""
    centred: Floats = x - x.mean(axis=0, keepdims=True)
    scale = np.mean(np.square(centred), axis=0, keepdims=True)
    scale += np.float32(EPS)
    np.sqrt(scale, out=scale)
    centred /= scale
    centred *= weight
    centred += bias
    return centred


@dataclass(frozen=True, slots=True)
class _Layer:
    """One BERT layer; matrices (out, in) as torch stores them, vectors as (n, 1) columns."""

    qkv_weight: Floats  # (1152, 384): query, key and value projections stacked
    qkv_bias: Floats
    out_weight: Floats  # (384, 384)
    out_bias: Floats
    norm1_weight: Floats
    norm1_bias: Floats
    up_weight: Floats  # (1536, 384)
    up_bias: Floats
    down_weight: Floats  # (384, 1536)
    down_bias: Floats
    norm2_weight: Floats
    norm2_bias: Floats


@dataclass(frozen=True, slots=True)
class _Tensor:
    offset: int  # in bytes from the start of the file
    shape: tuple[int, ...]


def _index_safetensors(path: Path) -> dict[str, _Tensor]:
    """Where each float32 tensor lies in a safetensors file: an 8-byte little-endian header size, a JSON header
    of ``{name: {dtype, shape, data_offsets: [begin, end)}}``, then the raw little-endian data."""
    with path.open("rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if not 2 <= header_size <= 1 << 20:
            raise ValueError(f"implausible header size {header_size}")
        header: dict[str, Any] = json.loads(handle.read(header_size))
    data_start, size = 8 + header_size, path.stat().st_size
    index: dict[str, _Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = (data_start + int(offset) for offset in info["data_offsets"])
        shape = tuple(int(n) for n in info["shape"])
        if not data_start <= begin <= end <= size or end - begin != 4 * math.prod(shape):
            raise ValueError(f"tensor {name} lies outside the file or has the wrong size")
        index[name] = _Tensor(begin, shape)
    return index


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence vectors (384 floats, unit length); build with :meth:`load`."""

    dimension = DIMENSION

    def __init__(
        self, tokenizer: Any, path: Path, index: dict[str, _Tensor], directory: Path, blas: _BlasThreads | None = None
    ) -> None:
        self.directory = directory
        self._tokenizer = tokenizer
        self._blas = blas

        def read(name: str) -> Floats:  # into our own memory, read once
            entry = index[name]
            array = np.fromfile(path, dtype="<f4", count=math.prod(entry.shape), offset=entry.offset)
            return array.astype(np.float32, copy=False).reshape(entry.shape)

        def matrix(*names: str) -> Floats:  # torch Linear weights, (out, in), stacked on the out axis
            return np.concatenate([read(name) for name in names]) if len(names) > 1 else read(names[0])

        def column(*names: str) -> Floats:  # biases and LayerNorm parameters as (n, 1), to broadcast over tokens
            return np.concatenate([read(name) for name in names])[:, None]

        # The vocabulary table (47 MB) stays a read-only map of the file: only rows of words seen are read in.
        words = index["embeddings.word_embeddings.weight"]
        self._words: Floats = np.memmap(path, dtype="<f4", mode="r", offset=words.offset, shape=words.shape).view(
            np.ndarray
        )
        # position + token type 0 (every token of a single sentence has type 0): one table, added once
        self._positions = (
            read("embeddings.position_embeddings.weight")[:MAX_TOKENS]
            + read("embeddings.token_type_embeddings.weight")[0]
        )
        self._norm = (column("embeddings.LayerNorm.weight"), column("embeddings.LayerNorm.bias"))
        layers = []
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."
            qkv = [f"{p}attention.self.{part}" for part in ("query", "key", "value")]
            layers.append(
                _Layer(
                    qkv_weight=matrix(*(f"{name}.weight" for name in qkv)),
                    qkv_bias=column(*(f"{name}.bias" for name in qkv)),
                    out_weight=matrix(f"{p}attention.output.dense.weight"),
                    out_bias=column(f"{p}attention.output.dense.bias"),
                    norm1_weight=column(f"{p}attention.output.LayerNorm.weight"),
                    norm1_bias=column(f"{p}attention.output.LayerNorm.bias"),
                    up_weight=matrix(f"{p}intermediate.dense.weight"),
                    up_bias=column(f"{p}intermediate.dense.bias"),
                    down_weight=matrix(f"{p}output.dense.weight"),
                    down_bias=column(f"{p}output.dense.bias"),
                    norm2_weight=column(f"{p}output.LayerNorm.weight"),
                    norm2_bias=column(f"{p}output.LayerNorm.bias"),
                )
            )
        self._layers = tuple(layers)

    @classmethod
    def load(
        cls, directory: Path, *, blas_threads: int | None = 1, burst_threads: int | None = None
    ) -> SentenceEncoder:
        """Opens the model in DIRECTORY (see ``deployment/fetch_model.py``); raises :class:`EncoderUnavailable`.

        ``blas_threads`` caps OpenBLAS's threads for the whole process (None leaves them alone, and then encode()
        never changes them); ``burst_threads`` (default: 2 on a machine with at least 2 CPUs) is used for small
        batches."""
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
            index = _index_safetensors(directory / SAFETENSORS)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error) as error:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} is unreadable ({error})") from error
        problems = [
            f"{name} {index[name].shape if name in index else 'missing'}"
            for name, shape in _expected_shapes().items()
            if name not in index or index[name].shape != shape
        ]
        if problems:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} does not hold the expected tensors: {problems[:3]}")
        try:
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER))
        except Exception as error:  # tokenizers raises a bare Exception for unparsable files
            raise EncoderUnavailable(directory, f"{TOKENIZER} is unreadable ({error})") from error
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()  # padded per batch in encode()
        blas = None
        if blas_threads is not None:
            burst = burst_threads if burst_threads is not None else min(2, os.cpu_count() or 1)
            blas = _BlasThreads(blas_threads, max(blas_threads, burst))
        try:
            encoder = cls(tokenizer, directory / SAFETENSORS, index, directory, blas)
        except (OSError, ValueError) as error:
            raise EncoderUnavailable(directory, f"{SAFETENSORS} is unreadable ({error})") from error
        log.info("sentence encoder loaded from %s", directory)
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
            small = sum(len(ids[i]) for i in batch) <= BURST_TOKENS
            with self._blas.burst() if small and self._blas is not None else contextlib.nullcontext():
                out[batch] = self._encode_batch([ids[i] for i in batch])
            start = stop
        return out

    def _encode_batch(self, ids: list[npt.NDArray[np.int64]]) -> Floats:
        """Vectors for one batch. Activations are feature-major, (384, tokens): with the weights in their stored
        (out, in) layout, every projection is ``W @ X``, which OpenBLAS runs faster than ``X @ W.T`` when there
        are few tokens (the common case: one question)."""
        count, length = len(ids), max(len(row) for row in ids)
        tokens = np.zeros((count, length), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros((count, length), dtype=np.float32)
        for row, row_ids in enumerate(ids):
            tokens[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1.0
        n = count * length
        x = (self._words[tokens] + self._positions[:length]).reshape(n, DIMENSION).T
        x = _layer_norm(x, *self._norm)
        # padding keys get a large negative score: exp() makes their attention weight exactly 0
        key_bias = ((mask - np.float32(1.0)) * np.float32(1e9))[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(HEAD_SIZE))
        for layer in self._layers:
            qkv = layer.qkv_weight @ x
            qkv += layer.qkv_bias
            # (3, heads, head size, count, length) -> query, key, value as (count, heads, length, head size)
            qkv_heads = qkv.reshape(3, HEADS, HEAD_SIZE, count, length).transpose(0, 3, 1, 4, 2)
            query, key, value = qkv_heads[0] * scale, qkv_heads[1], qkv_heads[2]
            scores = query @ key.transpose(0, 1, 3, 2)
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            # (count, heads, length, head size) -> (heads, head size, count, length) -> (384, tokens)
            context = (scores @ value).transpose(1, 3, 0, 2).reshape(DIMENSION, n)
            attended = layer.out_weight @ context
            attended += layer.out_bias
            attended += x
            x = _layer_norm(attended, layer.norm1_weight, layer.norm1_bias)
            hidden = layer.up_weight @ x
            hidden += layer.up_bias
            hidden = gelu(hidden)
            output = layer.down_weight @ hidden
            output += layer.down_bias
            output += x
            x = _layer_norm(output, layer.norm2_weight, layer.norm2_bias)
        states = x.reshape(DIMENSION, count, length)
        pooled = np.einsum("dbl,bl->bd", states, mask) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Floats = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result


class _BlasThreads:
    """OpenBLAS's thread count: ``steady`` for the process, ``burst`` inside :meth:`burst` (one encode call; the
    count is global to the process, so the encoder's single worker thread is the only one that changes it)."""

    def __init__(self, steady: int, burst: int) -> None:
        from threadpoolctl import ThreadpoolController

        self.steady, self.burst_threads = steady, burst
        self._libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        self._set(steady)

    def _set(self, threads: int) -> None:
        for library in self._libraries:
            library.set_num_threads(threads)

    @contextlib.contextmanager
    def burst(self) -> Iterator[None]:
        if self.burst_threads == self.steady:
            yield
            return
        self._set(self.burst_threads)
        try:
            yield
        finally:
            self._set(self.steady)


def _expected_shapes() -> dict[str, tuple[int, ...]]:
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
