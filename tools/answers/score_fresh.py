"""Score a fresh split once, end to end, as a staff member meets the bot: each question is sent as ``ask`` in a
personal chat of a CoP Bot (SQLite, the shipped encoder and confidence model, no CoP installed) and the reply is
read back: an FAQ answer (its entry), a directory answer ("… is not on CoP Bot yet"), or no confident answer.

    python -m tools.answers.score_fresh tools/answers/fresh/holdout-22.json

A fresh split (``tools/answers/fresh/``) holds questions in the examples' format: ``expected`` (an entry id, or
null when the FAQ does not answer it), optional ``also_ok`` and ``directory`` (a question about a named CoP's
leads, sponsor, status or events, which the bot answers from its directory; ``expected`` then names the
programme entry that also holds the fact, if any). Answerable = labelled with an entry or a directory question.
``near_copy`` marks a question close to an earlier example or FAQ phrasing: the figures are printed with and without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.sqlite import SqliteStore
from tests.kit.activities import user
from tests.kit.harness import running_bot, test_settings
from tools.answers.measure import shipped_encoder

NOT_ON_BOT = "not on CoP Bot yet"
_HELPED = re.compile(r'"verb": "faq.helped"[^}]*?"entry": "([^"]+)"')


@dataclass
class Score:
    answerable: int = 0
    right: int = 0
    wrong: int = 0
    out_of_scope: int = 0
    out_abstained: int = 0
    out_answered: int = 0
    misses: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        total = self.answerable + self.out_of_scope
        return [
            f"answerable {self.answerable}: answered right {self.right} ({100 * self.right / self.answerable:.1f} %), "
            f"wrong {self.wrong}, no confident answer {self.answerable - self.right - self.wrong}",
            f"out of scope {self.out_of_scope}: abstained {self.out_abstained} "
            f"({100 * self.out_abstained / self.out_of_scope:.1f} %)",
            f"answered wrongly with confidence, of all {total}: {self.wrong + self.out_answered} "
            f"({100 * (self.wrong + self.out_answered) / total:.1f} %)",
            *self.misses,
        ]


async def reply_to(questions: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """("answer", entry) / ("directory", None) / ("abstain", None) for each question, in order."""
    got: list[tuple[str, str | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "fresh.sqlite3")
        settings = test_settings(programme_admins=frozenset({"aad-programme-admin"}))
        async with running_bot(store, settings=settings, encoder=shipped_encoder()) as bot:
            for number, row in enumerate(questions):
                posted = await bot.say(user(50_000 + number, f"Asker {number}"), f"ask {row['question']}")
                entries = _HELPED.findall(json.dumps([c.body for c in posted.calls]) + json.dumps(posted.body))
                if NOT_ON_BOT in posted.everything:
                    got.append(("directory", None))
                else:
                    got.append(("answer", entries[0]) if entries else ("abstain", None))
    return got


def score(questions: list[dict[str, Any]], got: list[tuple[str, str | None]]) -> Score:
    result = Score()
    for row, (kind, entry) in zip(questions, got, strict=True):
        wanted = {row.get("expected"), *row.get("also_ok", [])} - {None}
        if wanted or row.get("directory"):
            result.answerable += 1
            if kind == "directory" or (kind == "answer" and entry in wanted):
                result.right += 1
            elif kind == "answer":
                result.wrong += 1
                result.misses.append(f"  wrong: {row['question']!r} -> {entry} (wanted {sorted(wanted)})")
            else:
                result.misses.append(f"  no answer: {row['question']!r} (wanted {sorted(wanted)})")
        else:
            result.out_of_scope += 1
            if kind == "answer":
                result.out_answered += 1
                result.misses.append(f"  answered out of scope: {row['question']!r} -> {entry}")
            else:
                result.out_abstained += 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", type=Path)
    questions: list[dict[str, Any]] = json.loads(parser.parse_args().split.read_text(encoding="utf-8"))["questions"]
    got = asyncio.run(reply_to(questions))
    print("\n".join(score(questions, got).lines()))
    kept = [(row, reply) for row, reply in zip(questions, got, strict=True) if not row.get("near_copy")]
    if len(kept) < len(questions):  # near-copies of earlier questions marked: the figures without them too
        print(f"\nwithout the {len(questions) - len(kept)} near-copies of earlier questions:")
        print("\n".join(score([row for row, _ in kept], [reply for _, reply in kept]).lines()[:3]))


if __name__ == "__main__":
    main()
