"""The encoder adapter file (bot/answers/adapter.py): what the shipped one holds, that each split has a fold
adapter that never trained on it, and that a file which does not fit is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.answers.adapter import ADAPTER_FILE, Adapter, AdapterError, save
from tools.answers.folds import adapter_folds
from tools.answers.splits import FIT_SPLITS, NEWER_THAN_ADAPTER

LAYER_WEIGHTS = 6 * 6  # query, key, value, attention output, two feed-forward weights, in each of six layers


def test_the_shipped_adapter_updates_every_layer_weight_and_trained_on_every_split() -> None:
    adapter = Adapter.load()
    assert len(adapter.factors) == LAYER_WEIGHTS
    for name, (a, b) in adapter.factors.items():
        assert a.shape[0] == b.shape[1] == adapter.settings["rank"], name
        assert a.dtype == b.dtype == np.float32
        assert np.isfinite(a).all()
        assert np.isfinite(b).all()
        assert float(np.abs(b).max()) > 0, f"{name} was never trained (B starts at zero)"
    assert adapter.settings["without"] == []
    assert ADAPTER_FILE.stat().st_size < 2_000_000


def test_every_split_has_exactly_one_fold_adapter_that_never_trained_on_it() -> None:
    folds = adapter_folds()  # asserts no split is left out of two folds
    # splits written after the shipped adapter was trained are measured with it (tools/answers/splits.py)
    older = set(FIT_SPLITS) - set(NEWER_THAN_ADAPTER)
    assert older <= set(folds), sorted(older - set(folds))
    assert not set(NEWER_THAN_ADAPTER) & set(folds)
    for path in set(folds.values()):
        assert Adapter.load(path).settings["without"], path


def test_apply_adds_the_low_rank_update_and_leaves_other_weights_alone(tmp_path: Path) -> None:
    name = "encoder.layer.0.attention.self.query.weight"
    a, b = np.ones((2, 4), dtype=np.float32), np.full((3, 2), 0.5, dtype=np.float32)
    save(tmp_path / "a.npz", {name: (a, b)}, 2.0, {"without": []})
    adapter = Adapter.load(tmp_path / "a.npz")
    weight = np.zeros((3, 4), dtype=np.float32)
    np.testing.assert_allclose(adapter.apply(name, weight), np.full((3, 4), 2.0))
    other = np.ones((3, 4), dtype=np.float32)
    assert adapter.apply("encoder.layer.0.attention.self.key.weight", other) is other
    with pytest.raises(AdapterError, match="update of"):
        adapter.apply(name, np.zeros((4, 4), dtype=np.float32))


@pytest.mark.parametrize(
    ("factors", "reason"),
    [
        ({"embeddings.word_embeddings.weight": (np.ones((2, 4)), np.ones((3, 2)))}, "not a factor"),
        ({"encoder.layer.0.intermediate.dense.weight": (np.ones((2, 4)), np.ones((3, 5)))}, "do not fit"),
        ({}, "no factors"),
    ],
)
def test_a_file_that_does_not_fit_is_refused(
    tmp_path: Path, factors: dict[str, tuple[np.ndarray, np.ndarray]], reason: str
) -> None:
    save(tmp_path / "bad.npz", factors, 2.0, {})  # type: ignore[arg-type]  # ndarrays are what save writes
    with pytest.raises(AdapterError, match=reason):
        Adapter.load(tmp_path / "bad.npz")


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(AdapterError, match="unreadable"):
        Adapter.load(tmp_path / "bad.npz")
    with pytest.raises(AdapterError, match="unreadable"):
        Adapter.load(tmp_path / "missing.npz")
