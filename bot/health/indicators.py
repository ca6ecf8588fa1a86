"""The scorecard's indicators, area by area: one function per area of the CoP health framework rates what it can
measure from a CopSnapshot (and ``now``, where a term or a date matters) against Thresholds. Every indicator carries
its figure, the reason for its rating and a suggested next action; an indicator that cannot be measured says
"not enough data" and why. No I/O, no clock. The scorecard engine (bot/health/engine.py) rates the areas from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import Thresholds

Rating = Literal["green", "amber", "red", "none"]
NO_DATA = "not enough data"

AREA_LABELS: dict[str, str] = {
    "central": "central functions",
    "faculty": "faculties and departments",
    "vpo": "Vice-Provost offices",
    "other": "other areas",
}


@dataclass(frozen=True)
class Indicator:
    label: str
    figure: str  # what was measured, in words ("3 of 4", "18 h", "not enough data")
    rating: Rating
    reason: str
    action: str = ""


def _pct(share: float) -> str:
    return f"{round(share * 100)}%"


def _hours(hours: float) -> str:
    return f"{hours:.0f} h" if hours >= 1 else f"{round(hours * 60)} min"


def _no_data(label: str, why: str, action: str = "") -> Indicator:
    return Indicator(label, NO_DATA, "none", why, action)


# -- purpose -------------------------------------------------------------------------------------------------
def purpose(s: CopSnapshot, t: Thresholds) -> list[Indicator]:
    set_count = int(s.has_terms_of_reference) + int(s.has_objectives)
    rating: Rating = "green" if set_count == 2 else "amber" if set_count == 1 else "red"
    missing = [
        name
        for name, present in (("terms of reference", s.has_terms_of_reference), ("objectives", s.has_objectives))
        if not present
    ]
    reason = (
        "Terms of reference and objectives are recorded."
        if not missing
        else f"No {' or '.join(missing)} recorded: the CoP health framework asks for clear terms of reference "
        "citing the objectives."
    )
    return [
        Indicator(
            "Terms of reference and objectives",
            f"{set_count} of 2 set",
            rating,
            reason,
            "Add the terms of reference link and the objectives with **setup**." if missing else "",
        )
    ]


# -- governance & structure ----------------------------------------------------------------------------------
def governance(s: CopSnapshot, t: Thresholds) -> list[Indicator]:
    out: list[Indicator] = []
    if t.leads_min <= s.leads <= t.leads_max:
        lead_rating: Rating = "green"
        lead_reason = f"{s.leads} leads, within the recommended {t.leads_min}-{t.leads_max}."
    elif s.leads == 0:
        lead_rating, lead_reason = "red", "No leads: every CoP needs 2-4 leads."
    elif s.leads < t.leads_min:
        lead_rating, lead_reason = "amber", f"Only {s.leads} lead; the recommendation is {t.leads_min}-{t.leads_max}."
    else:
        lead_rating, lead_reason = "amber", f"{s.leads} leads; the recommendation is {t.leads_min}-{t.leads_max}."
    out.append(
        Indicator(
            "Leads",
            str(s.leads),
            lead_rating,
            lead_reason,
            ""
            if lead_rating == "green"
            else "Add or hand over leads with **leads add @name** / **leads remove @name**.",
        )
    )
    out.append(
        Indicator(
            "Sponsor",
            "set" if s.has_sponsor else "none",
            "green" if s.has_sponsor else "red",
            "A sponsor gives the CoP senior recognition." if s.has_sponsor else "No sponsor recorded.",
            "" if s.has_sponsor else "Record the sponsor with **sponsor set @name**.",
        )
    )
    known = {area: n for area, n in s.members.by_area.items() if area in t.representation_areas and n > 0}
    told = sum(n for area, n in s.members.by_area.items() if area)
    if told < t.representation_min_members:
        out.append(
            _no_data(
                "Representation across areas",
                f"Only {told} members have given their organisational area (at least "
                f"{t.representation_min_members} needed).",
            )
        )
    else:
        gaps = [AREA_LABELS.get(a, a) for a in t.representation_areas if a not in known]
        covered = len(t.representation_areas) - len(gaps)
        rating: Rating = "green" if not gaps else "amber" if covered >= 2 else "red"
        out.append(
            Indicator(
                "Representation across areas",
                f"{covered} of {len(t.representation_areas)} areas",
                rating,
                "Members come from every organisational area." if not gaps else f"No members from {', '.join(gaps)}.",
                "" if not gaps else f"Invite colleagues from {', '.join(gaps)} (see **members** for the breakdown).",
            )
        )
    return out


# -- leadership ----------------------------------------------------------------------------------------------
def leadership(s: CopSnapshot, now: datetime, t: Thresholds, tz: ZoneInfo) -> list[Indicator]:
    if s.events is None:
        why = "Meetings are not recorded yet (events are not available)."
        return [_no_data("Lead-sponsor meeting", why), _no_data("Core meeting this term", why)]
    out: list[Indicator] = []
    last = s.events.last_lead_sponsor_meeting
    if last is None:
        out.append(
            Indicator(
                "Lead-sponsor meeting",
                "none recorded",
                "red",
                f"No lead-sponsor meeting recorded; the programme's guidance recommends one every "
                f"{t.lead_sponsor_weeks} weeks.",
                "Book a lead-sponsor meeting with **event new**, or log one held elsewhere with **record meeting**.",
            )
        )
    else:
        weeks = (now - last) / timedelta(weeks=1)
        rating: Rating = (
            "green" if weeks <= t.lead_sponsor_weeks else "amber" if weeks <= t.lead_sponsor_late_weeks else "red"
        )
        out.append(
            Indicator(
                "Lead-sponsor meeting",
                f"{max(weeks, 0):.0f} weeks ago" if weeks >= 1 else "this week",
                rating,
                f"Last met {last.astimezone(tz):%d %b %Y}; recommended every {t.lead_sponsor_weeks} weeks.",
                "" if rating == "green" else "Book the next one with **event new** (or log it: **record meeting**).",
            )
        )
    core = s.events.last_core_meeting
    term_start = s.term.start(tz)
    if core is not None and core >= term_start:
        out.append(
            Indicator(
                "Core meeting this term",
                f"held {core.astimezone(tz):%d %b}",
                "green",
                f"Core members met this term ({s.term.name}).",
            )
        )
    else:
        progress = s.term.progress(now, tz)
        rating = "amber" if progress < t.term_grace_fraction else "red"
        out.append(
            Indicator(
                "Core meeting this term",
                "not yet",
                rating,
                f"No core meeting in {s.term.name} yet ({_pct(progress)} of the term gone); the programme's guidance: "
                "at least once a term.",
                "Schedule this term's core meeting with **event new**, or record one held with **record event**.",
            )
        )
    return out


# -- vitality & interaction ----------------------------------------------------------------------------------
def vitality(s: CopSnapshot, t: Thresholds) -> list[Indicator]:
    out: list[Indicator] = []
    members = s.members.total
    if s.contributors_30d is None or members < t.contributors_min_members:
        out.append(
            _no_data(
                f"Contributors ({t.contributors_window_days} days)",
                "Too few members to judge."
                if s.contributors_30d is not None
                else "Channel contributions are not measured yet.",
            )
        )
    else:
        share = s.contributors_30d / members
        rating: Rating = (
            "green" if share >= t.contributors_green else "amber" if share >= t.contributors_amber else "red"
        )
        out.append(
            Indicator(
                f"Contributors ({t.contributors_window_days} days)",
                f"{s.contributors_30d} of {members} ({_pct(share)})",
                rating,
                f"{_pct(share)} of members posted or answered in the last {t.contributors_window_days} days; "
                "the CoP health framework: contributions come from a wide range of members.",
                "" if rating == "green" else "Ask a different member each week to share a tip or question.",
            )
        )
    q = s.queries
    if q is None:
        why = "Questions are not tracked yet."
        out += [_no_data("Query response rate", why), _no_data("Median time to first response", why)]
        return out
    if q.asked < t.min_queries:
        out.append(
            _no_data(
                "Query response rate",
                f"{q.asked} questions in {t.queries_window_days} days (at least {t.min_queries} needed).",
            )
        )
    else:
        rate = q.responded / q.asked
        rating = "green" if rate >= t.response_rate_green else "amber" if rate >= t.response_rate_amber else "red"
        out.append(
            Indicator(
                "Query response rate",
                f"{q.responded} of {q.asked} ({_pct(rate)})",
                rating,
                f"{_pct(rate)} of questions in {t.queries_window_days} days got a response "
                "(the CoP health framework: queries receive responses).",
                "" if rating == "green" else "Look at **unanswered** and agree who picks up questions each week.",
            )
        )
    median = q.median_first_response_hours
    if median is None or q.responded < t.min_queries:
        out.append(
            _no_data("Median time to first response", f"Too few answered questions in {t.queries_window_days} days.")
        )
    else:
        rating = (
            "green"
            if median <= t.first_response_green_hours
            else "amber"
            if median <= t.first_response_amber_hours
            else "red"
        )
        out.append(
            Indicator(
                "Median time to first response",
                _hours(median),
                rating,
                f"Half of the answered questions got a first response within {_hours(median)}.",
                "" if rating == "green" else "Turn on lead notifications and answer within a working day.",
            )
        )
    if q.asked == 0 and q.open_total == 0:
        out.append(_no_data("Open queries past target", "No questions asked yet."))
        return out
    overdue = q.open_past_target
    rating = "green" if overdue == 0 else "amber" if overdue <= t.overdue_amber_max else "red"
    out.append(
        Indicator(
            "Open queries past target",
            f"{overdue} of {q.open_total} open",
            rating,
            f"{overdue} open questions got no response within the {q.answer_target_hours} h answer target; "
            "the CoP health framework: leaders find responses to unanswered questions.",
            "" if overdue == 0 else "Work through **unanswered**, oldest first.",
        )
    )
    return out


# -- learning & sharing --------------------------------------------------------------------------------------
def learning(s: CopSnapshot, now: datetime, t: Thresholds, tz: ZoneInfo) -> list[Indicator]:
    out: list[Indicator] = []
    progress = s.term.progress(now, tz)
    if s.events is None:
        out.append(_no_data("Lunch and Learns this term", "Events are not recorded yet."))
    else:
        held = s.events.lunch_and_learns_this_term
        if held >= t.lunch_and_learns_per_term:
            rating: Rating = "green"
        else:
            rating = "amber" if progress < t.term_grace_fraction else "red"
        out.append(
            Indicator(
                "Lunch and Learns this term",
                str(held),
                rating,
                f"{held} Lunch and Learns in {s.term.name} (aim: at least {t.lunch_and_learns_per_term}).",
                "" if rating == "green" else "Plan a Lunch and Learn with **event new**.",
            )
        )
    if s.faq_added_this_term is None:
        out.append(_no_data("FAQ entries added this term", "The FAQ is not available yet."))
    else:
        added = s.faq_added_this_term
        rating = "green" if added >= t.faq_added_per_term else "amber"
        out.append(
            Indicator(
                "FAQ entries added this term",
                str(added),
                rating,
                f"{added} FAQ entries added or updated in {s.term.name}; "
                "the CoP health framework: summarise threads into FAQs.",
                "" if rating == "green" else "Turn an answered question into an FAQ entry with **faq add**.",
            )
        )
    return out


# -- impact & value ------------------------------------------------------------------------------------------
def impact(s: CopSnapshot, t: Thresholds) -> list[Indicator]:
    out: list[Indicator] = []
    e = s.events
    if e is None or e.feedback_average is None or e.feedback_count < t.feedback_min_ratings:
        out.append(
            _no_data(
                "Event feedback",
                "Too few event ratings in the last six months." if e is not None else "Events are not recorded yet.",
                "Ask attendees to rate events with the feedback card." if e is not None else "",
            )
        )
    else:
        avg = e.feedback_average
        rating: Rating = "green" if avg >= t.feedback_green else "amber" if avg >= t.feedback_amber else "red"
        out.append(
            Indicator(
                "Event feedback",
                f"{avg:.1f} / 5 ({e.feedback_count} ratings)",
                rating,
                f"Events in the last six months were rated {avg:.1f} out of 5 on average.",
                "" if rating == "green" else "Ask attendees what would make the next event more useful.",
            )
        )
    sv = s.survey
    if sv is None:
        out.append(
            _no_data(
                "Impact survey agreement", "No impact survey has run yet.", "Run the survey with **survey start**."
            )
        )
    elif sv.agree_share is None:
        out.append(
            _no_data(
                "Impact survey agreement",
                f"Fewer than {t.survey_min_responses} responses, or held back so that a smaller CoP's figures "
                f"cannot be worked out; results show from {t.survey_min_responses} responses to protect anonymity.",
            )
        )
    else:
        share = sv.agree_share
        rating = "green" if share >= t.survey_agree_green else "amber" if share >= t.survey_agree_amber else "red"
        out.append(
            Indicator(
                "Impact survey agreement",
                f"{_pct(share)} agree ({sv.responses} responses)",
                rating,
                f"{_pct(share)} of answers agreed with the impact statements (2021 programme: 79-92%).",
                "" if rating == "green" else "Discuss the lowest-scoring statement at the next core meeting.",
            )
        )
    out.append(projects(s))
    return out


def projects(s: CopSnapshot) -> Indicator:
    """Finished projects with a recorded outcome (what changed, who uses it): the CoP's outputs."""
    label = "Projects finished with an outcome"
    p = s.projects
    if p is None:
        return _no_data(label, "Projects are not recorded yet.")
    if p.finished_without_outcome:
        return Indicator(
            label,
            f"{p.finished_with_outcome} of {p.finished_with_outcome + p.finished_without_outcome} finished",
            "amber",
            f"{p.finished_without_outcome} finished projects have no outcome recorded, so their value cannot be shown.",
            "Record what changed and who uses it with **Record outcome** on each project (see **projects**).",
        )
    if p.finished_with_outcome:
        return Indicator(
            label,
            str(p.finished_with_outcome),
            "green",
            f"{p.finished_with_outcome} finished projects with their outcomes recorded, of {p.total} registered.",
        )
    return _no_data(
        label,
        f"No project has finished yet ({p.total} registered)." if p.total else "No projects are registered.",
        "Register the CoP's projects with **project new**; finished ones with outcomes count here.",
    )


# -- sustainability ------------------------------------------------------------------------------------------
def sustainability(s: CopSnapshot, t: Thresholds) -> list[Indicator]:
    out: list[Indicator] = []
    m = s.members
    start = m.members_at_window_start if m.members_at_window_start is not None else m.estimated_start
    if start < t.growth_min_members:
        out.append(
            _no_data(
                f"Net membership growth ({t.growth_window_days} days)",
                f"{start} members {t.growth_window_days} days ago; at least {t.growth_min_members} needed to judge.",
            )
        )
    else:
        change = (m.total - start) / start
        rating: Rating = "green" if change > t.growth_green else "red" if change < t.growth_red else "amber"
        sign = "+" if m.total >= start else "-"
        estimated = "" if m.members_at_window_start is not None else " (estimated from join dates)"
        out.append(
            Indicator(
                f"Net membership growth ({t.growth_window_days} days)",
                f"{sign}{abs(m.total - start)} ({sign}{_pct(abs(change))}){estimated}",
                rating,
                f"{start} → {m.total} members in {t.growth_window_days} days; "
                "the CoP health framework: membership grows organically.",
                ""
                if rating == "green"
                else "Post the CoP in the staff newsletter and ask members to invite a colleague.",
            )
        )
    moves = m.wider_to_core_in_window
    if m.total == 0:
        out.append(_no_data("Wider → core moves", "No members yet."))
    else:
        out.append(
            Indicator(
                "Wider → core moves",
                str(moves),
                "green" if moves > 0 else "amber",
                f"{moves} wider members became core in the last {t.growth_window_days} days.",
                "" if moves else "Invite active wider members to the next core meeting.",
            )
        )
    return out
