"""Within-entry whitening (bot/answers/whitening.py) on small, hand-made vector sets."""

from __future__ import annotations

import numpy as np

from bot.answers.whitening import whiten, whitening


def _unit(rows: list[list[float]]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    unit: np.ndarray = array / np.linalg.norm(array, axis=1, keepdims=True)
    return unit


# Two entries told apart by the first axis; their phrasings vary a lot along the second ("how it is worded").
PHRASINGS = _unit(
    [[1.0, 0.9, 0.1], [1.0, -0.9, 0.1], [1.0, 0.0, 0.1], [0.6, 0.9, 0.5], [0.6, -0.9, 0.5], [0.6, 0.0, 0.5]]
)
STARTS = np.asarray([0, 3], dtype=np.int64)


def test_a_question_worded_unusually_finds_its_entry_once_wording_counts_for_less() -> None:
    # closer to entry 1's phrasings, through its unusual wording (second axis); its meaning (first and third axes)
    # leans to entry 0
    question = _unit([[0.85, 2.5, 0.25]])[0]
    before = PHRASINGS @ question
    assert before[3:].max() > before[:3].max()
    matrix = whitening(PHRASINGS, STARTS, shrinkage=0.1)
    after = whiten(PHRASINGS, matrix) @ whiten(question, matrix)
    assert after[:3].max() > after[3:].max()


def test_the_result_is_symmetric_and_unit_length() -> None:
    matrix = whitening(PHRASINGS, STARTS, shrinkage=0.7)
    assert np.allclose(matrix, matrix.T, atol=1e-5)
    assert np.allclose(np.linalg.norm(whiten(PHRASINGS, matrix), axis=1), 1.0, atol=1e-5)
    assert np.isclose(np.linalg.norm(whiten(PHRASINGS[0], matrix)), 1.0, atol=1e-5)


def test_nothing_to_learn_from_or_turned_off_is_the_identity() -> None:
    one_each = _unit([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.array_equal(whitening(one_each, np.asarray([0, 1], dtype=np.int64), 0.7), np.eye(3, dtype=np.float32))
    assert np.array_equal(whitening(PHRASINGS, STARTS, 0.0), np.eye(3, dtype=np.float32))


def test_more_shrinkage_is_closer_to_plain_cosines() -> None:
    plain = PHRASINGS @ PHRASINGS.T
    gaps = []
    for shrinkage in (0.1, 1.0, 100.0):
        whitened = whiten(PHRASINGS, whitening(PHRASINGS, STARTS, shrinkage))
        gaps.append(float(np.abs(whitened @ whitened.T - plain).max()))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.05


def test_whitening_many_rows_gives_what_one_division_gives_bit_for_bit() -> None:
    """Rows are normalised a block at a time to spare memory; the figures must not move (the confidence model is
    fitted on them)."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1500, 16)).astype(np.float32)
    matrix = rng.normal(size=(16, 16)).astype(np.float32)
    out = vectors @ matrix
    expected = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
    assert np.array_equal(whiten(vectors, matrix), expected)
    one = vectors[7] @ matrix
    assert np.array_equal(
        whiten(vectors[7], matrix), one / np.maximum(np.linalg.norm(one, axis=-1, keepdims=True), 1e-12)
    )
    assert whiten(vectors, matrix).dtype == np.float32
