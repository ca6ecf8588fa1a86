"""The programme FAQ's sentence vectors, computed once by ``make model`` instead of on the first question.

Encoding the shipped FAQ's ~1,500 phrasings and answers and its ~1,500 examples (:mod:`bot.answers.examples`)
takes ~6 s of CPU; loading the model takes ~0.2 s. So
``make model`` (and the Docker build) runs ``python -m bot.answers.prebuilt MODEL_DIR``, which encodes them and
writes ``programme_vectors.npz`` next to the model: the texts (as UTF-8 JSON), their vectors, and the vector of one
probe sentence.

:class:`PrebuiltEncoder` wraps the bot's encoder. On its first call (on the encoder's worker thread, when the
model loads anyway) it reads the file and encodes the probe: if the probe's vector is not the stored one (another
model, another graph, a damaged file), the file is ignored and logged, so a stale file can cost time but never
change an answer. Texts the file holds are then answered from it and the rest encoded as before; after an FAQ
upgrade without ``make model``, only the changed texts are encoded.

The file keeps the model's own memory plan: the bot still loads the model on the first question (idle RSS stays
low), and the vectors (~5.5 MB) are read at the same moment, and again only when an index is built: between builds
the encoder holds a hash of each text, not its vector.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.answers.encoder import EncoderUnavailable, SentenceEncoder
from bot.answers.examples import load_examples
from bot.answers.faq import load_programme_faq
from bot.answers.ranker import Encoder, FloatArray, index_texts

log = logging.getLogger(__name__)

FILE_NAME = "programme_vectors.npz"
PROBE = "How do I join a Community of Practice as a core member?"
# the largest difference allowed between the probe's stored and fresh vector, per component (the same model on
# another thread count or CPU differs by ~1e-7; another model or graph by ~1e-2)
TOLERANCE = 1e-4


def write(directory: Path, encoder: Encoder) -> int:
    """Encode the shipped programme FAQ's texts with ``encoder`` and write the file into ``directory``; returns
    how many texts it holds. Written to a temporary name first, so a bot never reads half a file."""
    _version, entries = load_programme_faq()
    texts = list(dict.fromkeys(index_texts(entries, load_examples())))
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)
    probe = np.asarray(encoder.encode([PROBE]), dtype=np.float32)[0]
    target = directory / FILE_NAME
    partial = directory / (FILE_NAME + ".partial")
    with partial.open("wb") as out:
        encoded = np.frombuffer(json.dumps(texts, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        np.savez(out, texts=encoded, vectors=vectors, probe=probe)
    partial.replace(target)
    return len(texts)


def _read(path: Path) -> tuple[list[str], FloatArray, FloatArray]:
    with np.load(path, allow_pickle=False) as data:
        texts = json.loads(np.asarray(data["texts"], dtype=np.uint8).tobytes().decode("utf-8"))
        vectors = np.asarray(data["vectors"], dtype=np.float32)
        probe = np.asarray(data["probe"], dtype=np.float32)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError("the texts are not a list of strings")
    if vectors.ndim != 2 or vectors.shape[0] != len(texts) or probe.shape != (vectors.shape[1],):
        raise ValueError(f"shapes do not match: {len(texts)} texts, vectors {vectors.shape}, probe {probe.shape}")
    return texts, vectors, probe


_NOTHING: tuple[list[str], FloatArray] = ([], np.zeros((0, 0), dtype=np.float32))

# a call with fewer of the file's texts than this encodes them instead of reading the file again (a lone question
# that is an FAQ phrasing word for word costs one encoding, ~4 ms, not a ~15 ms read)
READ_AT_LEAST = 16


class PrebuiltEncoder:
    """An :class:`Encoder` that answers the texts in ``path`` from the file (once the probe shows the file was
    written by this model) and passes the rest to ``inner``. Thread-safe.

    The vectors are not kept between calls (~6 MB that an index, once built, holds whitened anyway): the encoder
    keeps a hash of each text the file holds, and a call that asks for at least :data:`READ_AT_LEAST` of them (an
    index being built) reads the file again. A file replaced since the probe was checked is checked again."""

    def __init__(self, inner: Encoder, path: Path) -> None:
        self._inner = inner
        self._path = path
        self._hashes: npt.NDArray[np.int64] | None = None  # sorted; None until the first call
        self._stamp: tuple[int, int, int] | None = None  # the checked file's inode, size and change time
        self._lock = threading.Lock()

    @property
    def known(self) -> int:
        """How many texts the file answers (0 before the first call, or when the file was ignored)."""
        return 0 if self._hashes is None else len(self._hashes)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            status = self._path.stat()
        except OSError:
            return None
        return status.st_ino, status.st_size, status.st_mtime_ns

    def _check(self) -> tuple[list[str], FloatArray]:
        """Read the file; keep its texts' hashes when the probe shows this model wrote it (else none). Returns its
        texts and their vectors (none when it is ignored), for this call only. Holds the lock."""
        known: tuple[list[str], FloatArray] = _NOTHING
        try:
            stamp = self._stat()
            texts, vectors, probe = _read(self._path)
            fresh = np.asarray(self._inner.encode([PROBE]), dtype=np.float32)[0]
            if fresh.shape != probe.shape or float(np.max(np.abs(fresh - probe))) > TOLERANCE:
                log.warning("ignoring %s: it was written by another model (run `make model`)", self._path)
            else:
                known = texts, vectors
                log.info("read %d FAQ vectors from %s", len(texts), self._path)
        except FileNotFoundError:
            stamp = None
            log.info("no %s (run `make model`): the FAQ's vectors are encoded on the first question", self._path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # bad JSON or UTF-8: ValueError
            log.warning("ignoring %s: %s", self._path, error)
        self._hashes = np.unique(np.asarray([hash(t) for t in known[0]], dtype=np.int64))
        self._stamp = stamp
        return known

    def _held(self, texts: Sequence[str]) -> list[bool]:
        """Which of ``texts`` the file holds (by hash: a rare collision only costs an encoding). Holds the lock."""
        hashes = self._hashes
        if hashes is None or not len(hashes):
            return [False] * len(texts)
        asked = np.asarray([hash(t) for t in texts], dtype=np.int64)
        at = np.minimum(np.searchsorted(hashes, asked), len(hashes) - 1)
        return (hashes[at] == asked).tolist()  # type: ignore[no-any-return]

    def _from_file(self, texts: Sequence[str]) -> tuple[list[str], FloatArray]:
        """The file's texts and vectors, read afresh (checked again if the file changed), when it holds at least
        :data:`READ_AT_LEAST` of ``texts``; else none."""
        with self._lock:
            if self._hashes is None:
                return self._check()
            if sum(self._held(texts)) < READ_AT_LEAST:
                return _NOTHING
            if self._stat() != self._stamp:
                return self._check()
            try:
                return _read(self._path)[:2]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                log.warning("ignoring %s: %s", self._path, error)
                self._hashes = np.zeros(0, dtype=np.int64)
                return _NOTHING

    def remembers(self, text: str) -> bool:
        """Whether ``text`` is answered from the file (checked on the first call), so callers need not keep it."""
        if self._hashes is None:
            self._from_file(())
        with self._lock:
            return self._held([text])[0]

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        held, vectors = self._from_file(texts)
        if held == list(texts):  # the programme index's texts, in the file's order: its array, not a copy
            return vectors
        row = {text: number for number, text in enumerate(held)}
        missing = list(dict.fromkeys(t for t in texts if t not in row))
        fresh = np.asarray(self._inner.encode(missing), dtype=np.float32) if missing else vectors[:0]
        if len(missing) == len(texts):  # none from the file, none repeated (a question; a CoP's entries)
            return fresh
        out = np.empty((len(texts), fresh.shape[1] if missing else vectors.shape[1]), dtype=np.float32)
        position = {text: number for number, text in enumerate(missing)}
        from_file = [(at, row[t]) for at, t in enumerate(texts) if t in row]
        if from_file:
            at, rows = zip(*from_file, strict=True)
            out[list(at)] = vectors[list(rows)]
        encoded = [(at, position[t]) for at, t in enumerate(texts) if t not in row]
        if encoded:
            at, rows = zip(*encoded, strict=True)
            out[list(at)] = fresh[list(rows)]
        return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.answers.prebuilt MODEL_DIR``: write MODEL_DIR/programme_vectors.npz (``make model`` runs it)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir", type=Path, help="the model directory (COPBOT_MODEL_DIR)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        count = write(args.model_dir, SentenceEncoder.load(args.model_dir))
    except (EncoderUnavailable, OSError) as error:
        log.error("%s", error)
        return 1
    log.info("wrote %d FAQ vectors to %s", count, args.model_dir / FILE_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
