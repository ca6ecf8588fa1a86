"""requirements.lock (what `make run` and `make test` install) pins every dependency pyproject.toml declares, at a
version its bounds allow: a dependency added without `make lock` fails here, not on a newcomer's machine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if found:
            pins[canonicalize_name(found.group(1).split("[")[0])] = found.group(2)
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts.extend(extra)
    return [Requirement(text) for text in texts if not text.startswith("copbot")]


def test_every_declared_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    assert len(pins) > 50
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, outside {requirement.specifier}: run `make lock`"
        )
