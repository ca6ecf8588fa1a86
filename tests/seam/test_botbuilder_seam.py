"""What only the botbuilder seam needs: its patches of the archived SDK."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.teams import open_gateway
from tests.kit.harness import test_settings


def test_msrest_retry_policies_share_one_set_of_codes() -> None:
    """Each connector client the SDK makes per turn has a retry policy; they share one frozen set of the codes
    msrest retries instead of a 500-number list each, and retry the same codes as before."""
    from msrest.universal_http.requests import ClientRetryPolicy

    open_gateway(test_settings(sdk="botbuilder"), lambda: datetime(2026, 1, 5, tzinfo=UTC))
    first, second = ClientRetryPolicy(), ClientRetryPolicy()  # type: ignore[no-untyped-call]
    assert first.policy.status_forcelist is second.policy.status_forcelist
    codes = first.policy.status_forcelist
    assert isinstance(codes, frozenset)
    assert codes == {i for i in range(999) if i not in range(500) or i == 408} - {501, 505}
    assert first.policy.is_retry("GET", 503)
    assert first.policy.is_retry("GET", 408)
    assert not first.policy.is_retry("GET", 429)  # msrest never retried 429 (the outbox does)
    assert not first.policy.is_retry("GET", 404)
    assert not first.policy.is_retry("GET", 501)


def test_the_default_seam_imports_no_botbuilder() -> None:
    """The default seam runs without the botbuilder extra: nothing it imports pulls botbuilder in."""
    import subprocess
    import sys

    code = (
        "import sys; from bot.app import create_app; from bot.teams.agents_seam import AgentsGateway; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('botbuilder', 'botframework', 'msrest')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
