"""The encoder adapters: the shipped one, trained on every split, and the fold adapters, each trained without the
splits of its fold so that the calibration can rank those splits with an encoder that never saw them.

Light on purpose (numpy and the adapter file format only): :mod:`tools.answers.finetune` imports it in the training
environment, which has PyTorch but not ONNX Runtime.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bot.answers.adapter import ADAPTER_FILE, Adapter
from tools.answers.splits import SPLITS

ADAPTER_FOLDS = Path(__file__).with_name("adapter_folds")
SHIPPED = ADAPTER_FILE
# fold -> the splits its adapter never trains on; together every split once
FOLDS: dict[str, tuple[str, ...]] = {
    "fold-1": ("holdout-14", "holdout-15", "holdout-16", "holdout-17", "holdout-18", "holdout-19"),
    "fold-2": ("tune", "holdout", "holdout-2", "holdout-4", "holdout-6", "holdout-8", "holdout-10", "holdout-12"),
    "fold-3": ("holdout-1", "holdout-3", "holdout-5", "holdout-7", "holdout-9", "holdout-11", "holdout-13"),
    "fold-4": ("holdout-20", "holdout-22", "holdout-23", "holdout-25", "holdout-27", "holdout-29", "holdout-31"),
    "fold-5": ("near-miss", "holdout-21", "holdout-24", "holdout-26", "holdout-28", "holdout-30"),
}
assert sorted(s for splits in FOLDS.values() for s in splits) == sorted(SPLITS), "every split in exactly one fold"


def fold_path(fold: str) -> Path:
    return ADAPTER_FOLDS / f"{fold}.npz"


def adapters() -> dict[Path, tuple[str, ...]]:
    """Every adapter file and the splits it must be trained without: the shipped one, then each fold's."""
    return {SHIPPED: (), **{fold_path(fold): splits for fold, splits in FOLDS.items()}}


@functools.cache
def adapter_folds() -> dict[str, Path]:
    """Split -> the fold adapter that was trained without it (from each file's recorded settings)."""
    folds: dict[str, Path] = {}
    for path in sorted(ADAPTER_FOLDS.glob("*.npz")):
        without = Adapter.load(path).settings.get("without", [])
        assert isinstance(without, list)
        for split in without:
            assert split not in folds, f"{split} is left out of both {folds[split].name} and {path.name}"
            folds[str(split)] = path
    return folds
