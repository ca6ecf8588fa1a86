"""The seam contract suite runs every case against each SDK seam (``COPBOT_SDK``)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["agents", "botbuilder"])
def sdk(request: pytest.FixtureRequest) -> str:
    return str(request.param)
