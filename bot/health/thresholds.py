"""Every threshold of the health scorecard, in one documented place.

Each figure cites where it comes from: the programme's guidance ("About Communities of Practice": 2-4 Leads, a
Sponsor, Leads meet the Sponsor "every 6 weeks minimum", core members meet "at least once a term", regular Lunch
and Learns), the impact page (the 2021 impact survey results) and the CoP health framework (the Community of
Practice Framework's seven areas and their descriptors, e.g. "queries receive responses", "membership grows
organically"). Where a document gives a descriptor but no number, the number is our judgement and says so;
change it here and only here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    # -- governance & structure -----------------------------------------------------------------------------
    # the programme's guidance: "Each CoP has 2-4 Leads"; fewer than the minimum is amber (one lead), none is red
    leads_min: int = 2
    leads_max: int = 4
    # the CoP health framework, Governance: "good coverage of potential membership and awareness of any gaps in
    # representation"; representation is only judged once this many members have told us their organisational
    # area (judgement)
    representation_min_members: int = 5
    # the CoP health framework: areas a CoP should draw from; the programme's criteria and guidance: "central
    # services and local academic areas"
    representation_areas: tuple[str, ...] = ("central", "faculty", "vpo")
    # -- leadership -----------------------------------------------------------------------------------------
    # the programme's guidance: "CoP Leads meet with the CoP Sponsor regularly (recommended every 6 weeks minimum)"
    lead_sponsor_weeks: int = 6
    # judgement: up to half a cycle late (9 weeks) is amber rather than red
    lead_sponsor_late_weeks: int = 9
    # the programme's guidance: "Core CoP Members attend regular meetings, usually at least once a term"; before this
    # share of the term has passed a missing core meeting is amber (there is still time), after it red (judgement)
    term_grace_fraction: float = 0.5
    # -- vitality & interaction (the CoP health framework: "Contributions come from a wide range of members",
    # "Queries receive responses", "Leaders ... find responses to unanswered questions") -------------------------------
    contributors_window_days: int = 30
    contributors_green: float = 0.20  # judgement: a fifth of members contributing in 30 days
    contributors_amber: float = 0.10
    contributors_min_members: int = 5  # judgement: below this the share says nothing
    response_rate_green: float = 0.90  # judgement: "queries receive responses" — nearly all of them
    response_rate_amber: float = 0.70
    first_response_green_hours: float = 24.0  # judgement: within a working day
    first_response_amber_hours: float = 48.0  # the CoP's default answer target (issue 5 / DESIGN §3)
    overdue_amber_max: int = 2  # open queries past the answer target: 0 green, up to this amber, more red
    min_queries: int = 3  # judgement: fewer queries in the window than this is "not enough data"
    queries_window_days: int = 90  # judgement: a rolling window, so the first weeks of a term are not empty
    # -- learning & sharing (the programme's guidance: Leads "organise dedicated Lunch and Learns"; the CoP health
    # framework: "summarize discussion threads into FAQs") -------------------------------------------------------------
    lunch_and_learns_per_term: int = 1  # the impact page: ~200 since 2017 across ~22 CoPs ≈ one a term per CoP
    faq_added_per_term: int = (
        1  # the CoP health framework says "may": a term without new FAQ entries is amber, never red
    )
    # -- impact & value (the CoP health framework: "evaluation of COP events"; the impact page: survey % agree) ---
    feedback_green: float = 4.0  # mean event feedback on a 1-5 scale (judgement)
    feedback_amber: float = 3.0
    feedback_min_ratings: int = 3
    survey_agree_green: float = 0.80  # the impact page: every 2021 statement reached 79-92 % agree
    survey_agree_amber: float = 0.60
    survey_min_responses: int = 5  # anonymity: results of fewer respondents are never shown (issue 8)
    # -- sustainability (the CoP health framework: "Membership of the COP grows organically at expected levels") --
    growth_window_days: int = 90
    growth_green: float = 0.0  # any net growth over 90 days is green
    growth_red: float = -0.05  # shrinking by more than 5 % in 90 days is red; between is amber (judgement)
    growth_min_members: int = 5  # judgement: below this a percentage is noise


DEFAULT_THRESHOLDS = Thresholds()
