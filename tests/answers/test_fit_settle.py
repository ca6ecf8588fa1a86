"""``make refit`` settles the confidence model: a fixed point, or the highest-threshold member of a cycle of fits."""

from __future__ import annotations

import pytest

from bot.answers.calibration import DEFAULT_CALIBRATION, Calibration
from tools.answers.fit_confidence import State, settle, with_state

A: State = ((1.0, 2.0), 0.68)
B: State = ((1.5, 2.5), 0.69)
C: State = ((1.2, 2.2), 0.71)


class Fits:
    """Stands in for a real fit (minutes of ranking): each model fits into the next one of ``after``."""

    def __init__(self, after: dict[State, State]) -> None:
        self.after = after
        self.calls = 0

    def __call__(self, calibration: Calibration) -> State:
        self.calls += 1
        return self.after[(calibration.semantic_coefficients, calibration.semantic_min_confidence)]


def test_a_model_that_fits_into_itself_is_kept() -> None:
    fits = Fits({A: B, B: B})
    assert settle(with_state(DEFAULT_CALIBRATION, A), fit=fits) == B
    assert fits.calls == 2


def test_two_models_that_fit_into_each_other_keep_the_higher_threshold() -> None:
    fits = Fits({A: B, B: A})
    assert settle(with_state(DEFAULT_CALIBRATION, A), fit=fits) == B
    assert fits.calls == 2  # the model started from counts as one of the cycle's


def test_a_longer_cycle_keeps_its_highest_threshold_even_when_it_was_not_the_start() -> None:
    start: State = ((0.0, 0.0), 0.50)
    fits = Fits({start: A, A: C, C: B, B: A})
    assert settle(with_state(DEFAULT_CALIBRATION, start), fit=fits) == C


def test_fits_that_never_come_back_stop_with_an_error() -> None:
    chain: dict[State, State] = {((float(n), 0.0), 0.6): ((float(n + 1), 0.0), 0.6) for n in range(10)}
    with pytest.raises(SystemExit, match="did not settle"):
        settle(with_state(DEFAULT_CALIBRATION, ((0.0, 0.0), 0.6)), rounds=4, fit=Fits(chain))
