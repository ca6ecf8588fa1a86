"""Only the seam imports a bot SDK: features, cards and storage see the project's own types."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("microsoft_agents", "botbuilder", "botframework", "msrest")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_outside_bot_teams_imports_an_sdk() -> None:
    seam = ROOT / "bot" / "teams"
    offenders = []
    for package in ("bot", "cards", "storage", "deployment"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if seam in path.parents:
                continue
            for module in _imported_modules(path):
                if module.split(".")[0] in SDKS:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_only_the_botbuilder_seam_imports_botbuilder() -> None:
    offenders = []
    for path in sorted((ROOT / "bot" / "teams").glob("*.py")):
        if path.name == "botbuilder_seam.py":
            continue
        for module in _imported_modules(path):
            if module.split(".")[0] in ("botbuilder", "botframework", "msrest"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_checks_see_the_seams_own_imports() -> None:
    """The scan is not vacuous: it finds the imports the two seams do make."""
    assert any(m.startswith("microsoft_agents") for m in _imported_modules(ROOT / "bot/teams/agents_seam.py"))
    assert any(m.startswith("botbuilder") for m in _imported_modules(ROOT / "bot/teams/botbuilder_seam.py"))
