"""Cards of inviting the people already in a CoP's team: the offer to the leads, the run under way, the report."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.turn import JSON, Card
from cards.elements import card, execute, facts, heading, notice, safe, text

GREETING = (
    "{name} is a Community of Practice in a team you're in, and its leads invite you to join it, as a core or "
    "a wider member. Nothing happens unless you choose; you can ignore this message."
)


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


def offer_card(
    cop_id: str, cop_name: str, run_id: str, team_size: int, members: int, invited_before: int, to_invite: int
) -> Card:
    name = safe(cop_name, 120)
    body: list[JSON] = [
        heading(f"Invite the team to {name}"),
        facts(
            [
                ("People in the team", f"{team_size:,}"),
                ("Already CoP members", f"{members:,}"),
                ("Invited before", f"{invited_before:,}"),
                ("Not invited yet", f"{to_invite:,}"),
            ]
        ),
    ]
    if not to_invite:
        body.append(text("Everyone in the team is a member already or has been invited.", weight="bolder"))
        return card(body, summary=f"Everyone in {cop_name} is a member or invited")
    body.append(
        text(
            f"I can send each of them a personal card to join {name} as a core or wider member (with the criteria "
            "and their profile). Nobody becomes a member unless they choose. Only leads can start this; each person "
            "gets one card, however often it is asked for.",
            wrap=True,
        )
    )
    actions = [
        execute(
            f"Invite {_people(to_invite)}", "invitations.confirm", {"cop_id": cop_id, "id": run_id}, style="positive"
        )
    ]
    return card(body, actions, summary=f"Invite {to_invite} people to {cop_name}")


def sending_card(cop_name: str, to_invite: int) -> Card:
    return notice(
        f"Inviting {_people(to_invite)} to {safe(cop_name, 120)}: the cards go out at the pace Teams allows. "
        "I'll post here how it went.",
        title="Invitations under way",
    )


def report_card(cop_name: str, report: dict[str, int]) -> Card:
    unreached = [
        ("Blocked me or can't be messaged (403)", report.get("blocked", 0)),
        ("No longer in Teams (404)", report.get("gone", 0)),
        ("Throttled by Teams past the deadline (still queued)", report.get("throttled", 0)),
        ("Other failures", report.get("failed", 0)),
    ]
    rows = [("Invitations sent", f"{report.get('sent', 0):,}"), ("Already members", f"{report.get('members', 0):,}")]
    rows += [(label, f"{count:,}") for label, count in unreached if count]
    total = sum(count for _, count in unreached)
    body: list[JSON] = [heading(f"Invitations to {safe(cop_name, 120)} done"), facts(rows)]
    if total:
        body.append(
            text(
                f"{_people(total)} could not be reached privately. They can still join with **join** in the "
                "team's channel.",
                subtle=True,
            )
        )
    return card(body, summary=f"Invitations done: {report.get('sent', 0)} sent")


def examples() -> Iterable[tuple[str, Card]]:
    yield "offer", offer_card("19:team-1@thread.tacv2", "Data and Insight", "0123456789abcdef", 120, 20, 5, 95)
    yield "offer-nobody", offer_card("19:team-1@thread.tacv2", "Data and Insight", "0123456789abcdef", 20, 20, 0, 0)
    yield "sending", sending_card("Data and Insight", 95)
    yield (
        "report",
        report_card(
            "Data and Insight", {"sent": 90, "members": 20, "blocked": 3, "gone": 1, "throttled": 1, "failed": 0}
        ),
    )
