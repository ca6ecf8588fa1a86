"""main.bicep, read with the Bicep grammar (tree-sitter-bicep), since no Bicep compiler runs offline.

The grammar catches what a typo would break before ``az deployment group create`` does: a syntax error, a
reference to a parameter, variable or resource that is not declared, a parameter or variable nobody uses (the Bicep
linter's no-unused-params / no-unused-vars), and a parameters file that sets something main.bicep does not declare.
Types, API versions and resource property names still need the compiler (see deployment/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

AZURE = Path(__file__).resolve().parents[2] / "deployment" / "azure"
DECLARATIONS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "output_declaration": "output",
}


@dataclass(frozen=True, slots=True)
class Template:
    declared: dict[str, str]  # name -> param | var | resource (the symbols an expression can read)
    outputs: set[str]  # output names (not symbols: an output may share a variable's name)
    references: list[tuple[str, int]]  # (name, line) of every identifier used as a value
    errors: list[tuple[int, str]]  # (line, text) of every ERROR or MISSING node
    required_params: set[str]  # params without a default value
    secure_params: set[str]


def _parse(source: bytes) -> Node:
    return Parser(Language(tree_sitter_bicep.language())).parse(source).root_node


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _is_reference(node: Node) -> bool:
    """Whether an ``identifier`` node reads a symbol (rather than naming a declaration, a function or a key)."""
    parent = node.parent
    assert parent is not None
    if parent.type in DECLARATIONS:
        return parent.named_children.index(node) > 0  # the first identifier is the declared name
    if parent.type == "call_expression":
        return parent.child_by_field_name("function") != node  # function names are Bicep's built-ins
    if parent.type == "object_property":
        return parent.named_children.index(node) > 0  # the first identifier is the property's key
    return True


def read_template(source: bytes) -> Template:
    root = _parse(source)
    declared: dict[str, str] = {}
    outputs: set[str] = set()
    required: set[str] = set()
    secure: set[str] = set()
    for declaration in root.named_children:
        kind = DECLARATIONS.get(declaration.type)
        if kind is None:
            continue
        name = declaration.named_children[0].text
        assert name is not None
        if kind == "output":
            outputs.add(name.decode())
            continue
        declared[name.decode()] = kind
        if kind == "param":
            if "=" not in {child.type for child in declaration.children}:
                required.add(name.decode())
            decorators = declaration.prev_named_sibling
            if decorators is not None and decorators.type == "decorators" and b"@secure()" in (decorators.text or b""):
                secure.add(name.decode())
    references: list[tuple[str, int]] = []
    errors: list[tuple[int, str]] = []
    for node in _walk(root):
        if node.type == "ERROR" or node.is_missing:
            errors.append((node.start_point[0] + 1, (node.text or b"").decode(errors="replace")[:60]))
        elif node.type == "identifier" and _is_reference(node):
            references.append(((node.text or b"").decode(), node.start_point[0] + 1))
    return Template(declared, outputs, references, errors, required, secure)


def undeclared(template: Template) -> list[tuple[str, int]]:
    """References to names no param, var or resource declares."""
    return [(name, line) for name, line in template.references if name not in template.declared]


def unused(template: Template) -> list[str]:
    used = {name for name, _ in template.references}
    return sorted(name for name, kind in template.declared.items() if kind in ("param", "var") and name not in used)


@pytest.fixture(scope="module")
def template() -> Template:
    return read_template((AZURE / "main.bicep").read_bytes())


def test_main_bicep_parses(template: Template) -> None:
    assert template.errors == []
    assert {"param", "var", "resource"} <= set(template.declared.values())
    assert template.outputs


def test_every_reference_is_declared(template: Template) -> None:
    assert undeclared(template) == []


def test_every_parameter_and_variable_is_used(template: Template) -> None:
    assert unused(template) == []


def test_parameters_file_matches_the_template(template: Template) -> None:
    """Every value the parameters file sets is declared; what it leaves out has a default or is a secret given at
    deployment time (the README's ``signingKey=...`` on the command line), never written to the file."""
    parameters = json.loads((AZURE / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    params = {name for name, kind in template.declared.items() if kind == "param"}
    assert set(parameters) <= params
    assert template.required_params - set(parameters) <= template.secure_params
    assert not template.secure_params & set(parameters)


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        (b"param a string\noutput b string = a\n", None),
        (b"param a string\noutput b string = a\noutput c string = d\n", "undeclared"),
        (b"param a string\nparam unused string\noutput b string = a\n", "unused"),
        (b"param a string\noutput b string = a)\n", "syntax"),
        (b"param a string\nresource s 'Microsoft.Web/sites@2023-12-01' = {\n  name: a\n  location:\n}\n", "syntax"),
        (b"param a strin\noutput b string = a\n", "undeclared"),  # a misspelt type reads as an unknown name
        (b"var a = {\n  a: 'key, not a reference'\n}\nvar b = toLower(a.a)\noutput c string = b\n", None),
    ],
)
def test_the_checks_catch_what_they_are_for(source: bytes, finding: str | None) -> None:
    """The checks above on small templates: each mistake is found, and keys and functions are not references."""
    template = read_template(source)
    checks = {"syntax": template.errors, "undeclared": undeclared(template), "unused": unused(template)}
    found = {name for name, problems in checks.items() if problems}
    assert found == ({finding} if finding else set())
