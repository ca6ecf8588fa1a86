"""Users never see the source documents' file numbers: the product says what the programme's guidance asks for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT_NUMBER = re.compile(r"\bseeds? ?0\d\d\b", re.IGNORECASE)


def test_no_text_in_the_product_names_a_source_document_by_its_number() -> None:
    found = []
    for package in ("bot", "cards"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            for node in ast.walk(ast.parse(source)):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and DOCUMENT_NUMBER.search(node.value)
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            found += [
                f"{path.relative_to(ROOT)} (comment)"
                for line in source.splitlines()
                if "#" in line and DOCUMENT_NUMBER.search(line.split("#", 1)[1])
            ]
    assert found == []


def test_the_check_sees_a_document_number() -> None:
    assert DOCUMENT_NUMBER.search("the CoP health framework (seed 004) asks")
    assert not DOCUMENT_NUMBER.search("the CoP health framework asks")
