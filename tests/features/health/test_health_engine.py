"""The scorecard engine alone: hand-built snapshots, a fixed ``now``, every indicator's bands and the
"not enough data" paths (never a division by zero)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.health.engine import Scorecard, scorecard
from bot.health.indicators import NO_DATA, Indicator
from bot.health.snapshot import CopSnapshot, EventFacts, MembershipFacts, QueryFacts, SurveyFacts
from bot.health.terms import Term, configured_terms, current_term, default_terms
from bot.health.thresholds import DEFAULT_THRESHOLDS, Thresholds

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 75% through the Autumn 2026 term below
TERM = Term(date(2026, 9, 28), date(2026, 12, 11))
T = DEFAULT_THRESHOLDS


def healthy() -> CopSnapshot:
    return CopSnapshot(
        cop_id="c1",
        name="Data",
        status="launched",
        term=TERM,
        has_terms_of_reference=True,
        has_objectives=True,
        leads=3,
        has_sponsor=True,
        members=MembershipFacts(
            core=40,
            wider=60,
            by_area={"central": 50, "faculty": 40, "vpo": 10},
            joined_in_window=12,
            members_at_window_start=90,
            estimated_start=88,
            wider_to_core_in_window=2,
        ),
        contributors_30d=30,
        queries=QueryFacts(
            asked=20,
            responded=19,
            median_first_response_hours=6.0,
            open_total=1,
            open_past_target=0,
            answer_target_hours=48,
        ),
        faq_added_this_term=3,
        events=EventFacts(
            events_this_term=4,
            lunch_and_learns_this_term=1,
            last_core_meeting=NOW - timedelta(days=20),
            last_lead_sponsor_meeting=NOW - timedelta(weeks=3),
            feedback_average=4.4,
            feedback_count=15,
        ),
        survey=SurveyFacts("s1", 100, 40, 0.88),
    )


def score(snapshot: CopSnapshot, thresholds: Thresholds = T, now: datetime = NOW) -> Scorecard:
    return scorecard(snapshot, now, thresholds, TZ)


def indicator(sc: Scorecard, label_start: str) -> Indicator:
    found = [i for a in sc.areas for i in a.indicators if i.label.startswith(label_start)]
    assert len(found) == 1, label_start
    return found[0]


def test_a_healthy_cop_is_green_in_all_seven_areas_with_figures_and_reasons() -> None:
    sc = score(healthy())
    assert [a.key for a in sc.areas] == [
        "purpose",
        "governance",
        "leadership",
        "vitality",
        "learning",
        "impact",
        "sustainability",
    ]
    assert {a.rating for a in sc.areas} == {"green"}
    assert sc.summary == "7 green"
    for area in sc.areas:
        assert area.action  # one suggested next action per area, even when green
        assert all(i.reason and i.figure for i in area.indicators)
    assert indicator(sc, "Contributors").figure == "30 of 100 (30%)"
    assert indicator(sc, "Query response rate").figure == "19 of 20 (95%)"
    assert indicator(sc, "Median time").figure == "6 h"
    assert indicator(sc, "Net membership growth").figure == "+10 (+11%)"


@pytest.mark.parametrize(
    ("leads", "sponsor", "rating"),
    [(3, True, "green"), (2, True, "green"), (4, True, "green"), (1, True, "amber"), (5, True, "amber"),
     (0, True, "red"), (3, False, "red")],
)  # fmt: skip
def test_governance_wants_two_to_four_leads_and_a_sponsor(leads: int, sponsor: bool, rating: str) -> None:
    sc = score(replace(healthy(), leads=leads, has_sponsor=sponsor))
    assert sc.area("governance").rating == rating


def test_representation_names_the_gaps_and_needs_enough_answers() -> None:
    base = healthy()
    one_gap = replace(base, members=replace(base.members, by_area={"central": 60, "faculty": 40}))
    ind = indicator(score(one_gap), "Representation")
    assert ind.rating == "amber"
    assert "Vice-Provost offices" in ind.reason
    two_gaps = replace(base, members=replace(base.members, by_area={"central": 100}))
    assert indicator(score(two_gaps), "Representation").rating == "red"
    unknown = replace(base, members=replace(base.members, by_area={"": 100, "central": 3}))
    assert indicator(score(unknown), "Representation").figure == NO_DATA


def test_purpose_needs_terms_of_reference_and_objectives() -> None:
    assert score(replace(healthy(), has_objectives=False)).area("purpose").rating == "amber"
    sc = score(replace(healthy(), has_objectives=False, has_terms_of_reference=False))
    assert sc.area("purpose").rating == "red"
    assert "setup" in sc.area("purpose").action


@pytest.mark.parametrize(("weeks", "rating"), [(2, "green"), (6, "green"), (8, "amber"), (10, "red")])
def test_lead_sponsor_meeting_every_six_weeks(weeks: int, rating: str) -> None:
    base = healthy()
    assert base.events is not None
    events = replace(base.events, last_lead_sponsor_meeting=NOW - timedelta(weeks=weeks))
    assert indicator(score(replace(base, events=events)), "Lead-sponsor").rating == rating


def test_no_lead_sponsor_meeting_ever_is_red_with_an_action() -> None:
    base = healthy()
    assert base.events is not None
    sc = score(replace(base, events=replace(base.events, last_lead_sponsor_meeting=None)))
    assert sc.area("leadership").rating == "red"
    assert "event new" in sc.area("leadership").action


def test_core_meeting_this_term_is_amber_early_in_term_and_red_late() -> None:
    base = healthy()
    assert base.events is not None
    last_term = replace(base.events, last_core_meeting=datetime(2026, 6, 1, tzinfo=UTC))
    late = score(replace(base, events=last_term))
    assert indicator(late, "Core meeting").rating == "red"  # 75% of the term gone
    early = score(replace(base, events=last_term), now=datetime(2026, 10, 5, tzinfo=UTC))
    assert indicator(early, "Core meeting").rating == "amber"


@pytest.mark.parametrize(("contributors", "rating"), [(20, "green"), (15, "amber"), (9, "red")])
def test_contributors_share_of_members(contributors: int, rating: str) -> None:
    assert indicator(score(replace(healthy(), contributors_30d=contributors)), "Contributors").rating == rating


@pytest.mark.parametrize(
    ("responded", "median", "overdue", "rate_rating", "median_rating", "overdue_rating"),
    [(18, 24.0, 0, "green", "green", "green"), (15, 40.0, 2, "amber", "amber", "amber"),
     (10, 72.0, 3, "red", "red", "red")],
)  # fmt: skip
def test_query_indicators(
    responded: int, median: float, overdue: int, rate_rating: str, median_rating: str, overdue_rating: str
) -> None:
    queries = QueryFacts(20, responded, median, overdue + 1, overdue, 48)
    sc = score(replace(healthy(), queries=queries))
    assert indicator(sc, "Query response rate").rating == rate_rating
    assert indicator(sc, "Median time").rating == median_rating
    assert indicator(sc, "Open queries past target").rating == overdue_rating


def test_too_few_queries_is_not_enough_data_not_a_rating() -> None:
    sc = score(replace(healthy(), queries=QueryFacts(2, 1, 3.0, 0, 0, 48)))
    assert indicator(sc, "Query response rate").figure == NO_DATA
    assert indicator(sc, "Median time").figure == NO_DATA
    assert indicator(sc, "Open queries past target").rating == "green"


def test_learning_lunch_and_learns_and_faq() -> None:
    base = healthy()
    assert base.events is not None
    none_held = replace(base, events=replace(base.events, lunch_and_learns_this_term=0), faq_added_this_term=0)
    sc = score(none_held)
    assert indicator(sc, "Lunch and Learns").rating == "red"
    assert indicator(sc, "FAQ entries").rating == "amber"  # the seed says "may": never red
    assert sc.area("learning").rating == "red"
    assert "Lunch and Learn" in sc.area("learning").action  # the worst indicator's action


@pytest.mark.parametrize(("average", "rating"), [(4.5, "green"), (3.5, "amber"), (2.5, "red")])
def test_event_feedback_average(average: float, rating: str) -> None:
    base = healthy()
    assert base.events is not None
    sc = score(replace(base, events=replace(base.events, feedback_average=average)))
    assert indicator(sc, "Event feedback").rating == rating


@pytest.mark.parametrize(("share", "rating"), [(0.85, "green"), (0.7, "amber"), (0.5, "red")])
def test_survey_agreement(share: float, rating: str) -> None:
    assert (
        indicator(score(replace(healthy(), survey=SurveyFacts("s", 50, 20, share))), "Impact survey").rating == rating
    )


def test_hidden_survey_results_are_not_enough_data() -> None:
    ind = indicator(score(replace(healthy(), survey=SurveyFacts("s", 50, 3, None))), "Impact survey")
    assert ind.figure == NO_DATA
    assert "anonymity" in ind.reason


@pytest.mark.parametrize(("start", "now", "rating"), [(90, 100, "green"), (100, 100, "amber"), (100, 90, "red")])
def test_net_membership_growth(start: int, now: int, rating: str) -> None:
    base = healthy()
    members = replace(base.members, core=now // 2, wider=now - now // 2, members_at_window_start=start)
    assert indicator(score(replace(base, members=members)), "Net membership growth").rating == rating


def test_growth_is_estimated_from_join_dates_without_history() -> None:
    base = healthy()
    ind = indicator(score(replace(base, members=replace(base.members, members_at_window_start=None))), "Net membership")
    assert "estimated" in ind.figure
    assert ind.figure.startswith("+12")


def test_wider_to_core_moves() -> None:
    base = healthy()
    sc = score(replace(base, members=replace(base.members, wider_to_core_in_window=0)))
    assert indicator(sc, "Wider").rating == "amber"


def test_a_cop_with_no_data_says_not_enough_data_and_never_divides_by_zero() -> None:
    empty = CopSnapshot(
        cop_id="c0",
        name="New",
        status="preparing",
        term=TERM,
        has_terms_of_reference=False,
        has_objectives=False,
        leads=0,
        has_sponsor=False,
        members=MembershipFacts(0, 0, {}, 0, None, 0, 0),
        contributors_30d=0,
        queries=QueryFacts(0, 0, None, 0, 0, 48),
        faq_added_this_term=0,
        events=EventFacts(0, 0, None, None, None, 0),
    )
    sc = score(empty)
    for key in ("vitality", "impact", "sustainability"):
        assert sc.area(key).rating in ("none", "green"), key
    assert sc.area("impact").rating == "none"
    assert sc.area("sustainability").rating == "none"
    assert indicator(sc, "Contributors").figure == NO_DATA
    assert indicator(sc, "Net membership growth").figure == NO_DATA
    assert NO_DATA in sc.summary
    # sources that are missing altogether
    bare = replace(empty, contributors_30d=None, queries=None, faq_added_this_term=None, events=None, survey=None)
    sc = score(bare)
    assert sc.area("vitality").rating == "none"
    assert sc.area("leadership").rating == "none"
    assert sc.area("learning").rating == "none"


def test_terms_default_and_configured() -> None:
    terms = default_terms(date(2026, 11, 23))
    term = current_term(NOW, terms, TZ)
    assert term.name == "Autumn 2026"
    assert term.first == date(2026, 9, 22)
    summer_break = current_term(datetime(2026, 8, 1, tzinfo=UTC), terms, TZ)
    assert summer_break.name == "Summer 2026"  # between terms: the one that ended last
    assert summer_break.progress(datetime(2026, 8, 1, tzinfo=UTC), TZ) == 1.0

    class WithTerms:
        terms = ((date(2026, 10, 5), date(2026, 12, 18)),)

    configured = configured_terms(WithTerms(), date(2026, 11, 23))
    assert current_term(NOW, configured, TZ).first == date(2026, 10, 5)
    ran_out = configured_terms(WithTerms(), date(2027, 11, 23))  # a year after the last configured term
    assert current_term(datetime(2027, 11, 23, tzinfo=UTC), ran_out, TZ).name == "Autumn 2027"
