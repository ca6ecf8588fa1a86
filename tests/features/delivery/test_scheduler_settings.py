"""The settings the scheduler and outbox add: parsed from the environment, refused clearly when wrong."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.config import DEFAULT_TERMS, Settings, SettingsError, parse_terms
from bot.jobs.pacing import DeliveryPolicy


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.outbox_rate_per_s == 50.0
    assert settings.outbox_conversation_gap_s == 1.0
    assert settings.terms == DEFAULT_TERMS
    assert settings.lead_sponsor_max_weeks == 6
    policy = DeliveryPolicy.from_settings(settings)
    assert (policy.rate_per_s, policy.conversation_gap_s, policy.concurrency) == (50.0, 1.0, 16)


def test_values_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "COPBOT_OUTBOX_RATE": "20",
            "COPBOT_OUTBOX_CONVERSATION_GAP_S": "0.5",
            "COPBOT_OUTBOX_CONCURRENCY": "4",
            "COPBOT_TERMS": "2027-01-11..2027-03-26, 2026-09-28..2026-12-11",
            "COPBOT_LEAD_SPONSOR_MAX_WEEKS": "8",
        }
    )
    assert settings.outbox_rate_per_s == 20.0
    assert settings.outbox_conversation_gap_s == 0.5
    assert settings.outbox_concurrency == 4
    assert settings.terms == ((date(2026, 9, 28), date(2026, 12, 11)), (date(2027, 1, 11), date(2027, 3, 26)))
    assert settings.lead_sponsor_max_weeks == 8


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("COPBOT_OUTBOX_RATE", "0", "between"),
        ("COPBOT_OUTBOX_RATE", "fast", "a number"),
        ("COPBOT_OUTBOX_RATE", "nan", "between"),
        ("COPBOT_OUTBOX_CONVERSATION_GAP_S", "-1", "between"),
        ("COPBOT_OUTBOX_CONCURRENCY", "0", "between"),
        ("COPBOT_TERMS", "2026-09-28", "FIRST..LAST"),
        ("COPBOT_TERMS", "2026-12-11..2026-09-28", "not before"),
        ("COPBOT_TERMS", "autumn..spring", "YYYY-MM-DD"),
        ("COPBOT_LEAD_SPONSOR_MAX_WEEKS", "0", "between"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)


def test_empty_terms_list_is_allowed() -> None:
    assert parse_terms("COPBOT_TERMS", " , ") == ()
