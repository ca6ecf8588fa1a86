"""The delivery bench in small (bench/delivery.py): a real sending process killed with SIGKILL twice while the
connector accepts 10 % of posts and answers too late; every kind keeps the promise bot/domain/delivery.py gives it."""

from __future__ import annotations

from bench.delivery import run


async def test_each_kind_keeps_its_promise_through_late_answers_and_a_killed_sender() -> None:
    result = await run(per_kind=40)
    assert result["last_sender_exit"] == 0
    assert result["messages"] == 240
    assert result["at_most_once_duplicates"] == 0
    assert result["at_least_once_losses"] == 0
    for kind, figures in result["kinds"].items():
        assert figures["promise_holds"], (kind, figures)
        assert set(figures["status"]) <= {"sent", "unknown"}, (kind, figures)  # nothing left pending or dead
        if figures["promise"] == "at least once":
            assert figures["status"] == {"sent": 40}, (kind, figures)
        else:  # every "unknown" is accounted for: received (a late answer) or a counted loss
            assert figures["status"].get("unknown", 0) == figures["unknown_but_received"] + figures["losses"]
    late = sum(f["answered_late"] for f in result["kinds"].values())
    assert late > 0  # the faults happened
