"""The encoder's adaptation to this FAQ: low-rank updates to all-MiniLM-L6-v2's layer weights.

The sentence model as published places a staff member's question near the FAQ phrasing that means the same only so
far: on the six newest writers' questions (holdout-14 to -19) the right entry came first for 90.3 % of them, and for
94.2 % with an adapter trained without them (cross-validated figures: ``tests/answers/test_calibration.py``). The
adapter is what fine-tuning the model on the FAQ's own phrasings and the labelled example questions
(``bot/answers/examples.json``) learned, kept as LoRA factors: for each adapted weight ``W`` (torch's layout, (out,
in)), ``W + scale * B @ A`` with ``A`` (rank, in) and ``B`` (out, rank). Only the 36 linear weights of the six
layers change (query, key, value, attention output, and the two feed-forward weights); the word-piece table, biases
and LayerNorms are the model's own, so :mod:`bot.answers.encoder` still reads word rows from the published file.
Rank 16 in float16: 1.2 MB, against 90 MB for a fine-tuned copy of the model.

``encoder_adapter.npz`` (next to this module) is written by ``tools/answers/finetune.py`` (``make retrain``), which
needs torch and is not run by the tests (see its docstring for how, and what it was trained with); the file records
the training run's settings, and its sha256 labels the encoder graph built from it, so a changed adapter is never
mixed with an old ``encoder.onnx`` or old prebuilt vectors.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]

ADAPTER_FILE = Path(__file__).with_name("encoder_adapter.npz")
_WEIGHT = re.compile(
    r"encoder\.layer\.[0-9]+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense"
    r"|output\.dense)\.weight"
)
SCALE_KEY = "scale"
SETTINGS_KEY = "settings"  # a JSON string: how the adapter was trained (tools/answers/finetune.py)


class AdapterError(ValueError):
    """The adapter file is unreadable or does not fit the model."""


@dataclass(frozen=True, slots=True)
class Adapter:
    """Low-rank updates by weight name; :meth:`apply` gives a weight with its update added."""

    factors: dict[str, tuple[Floats, Floats]]  # name -> (A (rank, in), B (out, rank)), float32
    scale: float
    sha256: str  # of the file: labels the encoder graph built with it
    settings: dict[str, object]
    path: Path

    @property
    def shipped(self) -> bool:
        """Whether this is the adapter shipped with the bot (the one ``encoder.onnx`` is written with)."""
        return self.path.resolve() == ADAPTER_FILE.resolve()

    @classmethod
    def load(cls, path: Path = ADAPTER_FILE) -> Adapter:
        """Reads an adapter file (``numpy.savez``: ``NAME.a`` and ``NAME.b`` per weight, ``scale``, ``settings``);
        raises :class:`AdapterError`."""
        try:
            data = path.read_bytes()
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
            scale = float(arrays.pop(SCALE_KEY))
            settings = json.loads(str(arrays.pop(SETTINGS_KEY))) if SETTINGS_KEY in arrays else {}
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            raise AdapterError(f"{path} is unreadable ({error})") from error
        factors: dict[str, tuple[Floats, Floats]] = {}
        for key in sorted(arrays):
            name, _, part = key.rpartition(".")
            if part not in ("a", "b") or not _WEIGHT.fullmatch(name):
                raise AdapterError(f"{path}: {key} is not a factor of an adaptable weight")
            if part == "a":
                a, b = arrays[key], arrays.get(f"{name}.b")
                if b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                    raise AdapterError(f"{path}: the factors of {name} are missing or do not fit each other")
                factors[name] = (a.astype(np.float32), b.astype(np.float32))
        if not factors or not np.isfinite(scale):
            raise AdapterError(f"{path} holds no factors or a bad scale")
        return cls(factors, scale, hashlib.sha256(data).hexdigest(), settings, path)

    def apply(self, name: str, weight: Floats) -> Floats:
        """``weight`` (the model's tensor ``name``) with its update added, when the adapter has one."""
        pair = self.factors.get(name)
        if pair is None:
            return weight
        a, b = pair
        if (b.shape[0], a.shape[1]) != weight.shape:
            raise AdapterError(f"the update of {name} is {(b.shape[0], a.shape[1])}, the weight {weight.shape}")
        updated: Floats = (weight + np.float32(self.scale) * (b @ a)).astype(np.float32)
        return updated


def save(
    path: Path, factors: dict[str, tuple[npt.ArrayLike, npt.ArrayLike]], scale: float, settings: dict[str, object]
) -> None:
    """Writes an adapter file that :meth:`Adapter.load` reads (factors stored as float16)."""
    arrays: dict[str, npt.NDArray[np.generic]] = {
        SCALE_KEY: np.asarray(scale, dtype=np.float32),
        SETTINGS_KEY: np.asarray(json.dumps(settings, sort_keys=True)),
    }
    for name, (a, b) in factors.items():
        arrays[f"{name}.a"] = np.asarray(a, dtype=np.float16)
        arrays[f"{name}.b"] = np.asarray(b, dtype=np.float16)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
