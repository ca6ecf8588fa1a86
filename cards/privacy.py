"""Cards of ``my data`` and ``forget me``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.turn import Card
from cards.elements import card, execute, heading, notice, open_url, text

ERASED = (
    "Your profile, your memberships, any lead or sponsor role, your name and ids on questions you asked or "
    "answered, sign-ups, and any messages waiting to be sent to you"
)
KEPT = (
    "Figures that identify no one (attendance numbers, anonymous survey answers). Questions you asked or "
    'answered, and the CoP audit log, stay for others with your name replaced by "former member".'
)


def my_data_card(url: str, expires: str) -> Card:
    return card(
        [
            heading("Your data"),
            text(
                "Everything I store about you, as one JSON file. The link works for one hour (until "
                f"{expires}); anyone with the link can open it, so don't share it."
            ),
        ],
        [open_url("Download my data", url)],
        summary="Your data: download link",
    )


def forget_confirm_card(confirm_id: str) -> Card:
    return card(
        [
            heading("Erase everything about you?"),
            text("This cannot be undone. I will erase:", weight="bolder"),
            text(ERASED + "."),
            text("I will keep:", weight="bolder"),
            text(KEPT),
            text(
                "If you are a CoP lead or sponsor you will stop being one. You can use the bot again later as a "
                "new member.",
                subtle=True,
            ),
        ],
        [
            execute("Erase my data", "privacy.forget", {"id": confirm_id}, style="destructive"),
            execute("Keep my data", "privacy.keep", {"id": confirm_id}),
        ],
        summary="Confirm: erase your data",
    )


def forgotten_card(sources: Sequence[str]) -> Card:
    return card(
        [
            heading("Your data has been erased"),
            text(f"I erased what I stored about you ({len(sources)} kinds of record checked)."),
            text(KEPT, subtle=True),
        ],
        summary="Your data has been erased",
    )


def erase_incomplete_card(finish_within: str | None = None) -> Card:
    """Storage failed part-way. ``finish_within``: the rest is recorded and will be finished by then."""
    later = (
        f"I'll finish the rest within {finish_within}, or type **forget me** again to finish it now."
        if finish_within
        else "Type **forget me** again in a minute to finish."
    )
    return notice(
        "Part of your data could not be erased just now (I couldn't reach my storage). What was already erased "
        f"stays erased. {later}",
        title="Not finished",
        color="attention",
    )


def erase_continues_card(finish_within: str) -> Card:
    """There was more to go through than one answer allows; the rest is recorded and finished in the background."""
    return notice(
        f"I've erased most of your data; the rest will be erased within {finish_within}. Nothing more is needed "
        "from you (typing **forget me** again finishes it sooner).",
        title="Erasing your data",
    )


def kept_card() -> Card:
    return notice("Nothing was erased.", title="Your data is kept")


def expired_card() -> Card:
    return notice(
        "This confirmation is more than 15 minutes old. Type **forget me** again if you still want your data erased.",
        title="Confirmation expired",
        color="warning",
    )


def examples() -> Iterable[tuple[str, Card]]:
    yield "my-data", my_data_card("https://copbot.example.ac.uk/files/abc.def", "Mon 23 Nov 11:00")
    yield "confirm", forget_confirm_card("0123456789abcdef:1795000000")
    yield "forgotten", forgotten_card(["membership", "queries", "audit"])
    yield "incomplete", erase_incomplete_card()
    yield "kept", kept_card()
    yield "expired", expired_card()
