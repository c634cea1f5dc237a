"""Contract hygiene for consumers: every example in openapi.yaml validates against the schema it
illustrates (formats checked, $refs resolved), every operation shows an example request (when it
takes a body) and success response, and CHANGELOG.md records the contract's info.version."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests import ROOT

SPEC_URI = "urn:todo-api:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Example:
    where: str  # where the example is written, as a JSON pointer into openapi.yaml
    schema: str  # the JSON pointer of the schema it must satisfy
    value: Any


def load_contract() -> dict[str, Any]:
    with (ROOT / "openapi.yaml").open(encoding="utf-8") as f:
        contract: dict[str, Any] = yaml.safe_load(f)
    return contract


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str | int) -> str:
    return "".join("/" + _escape(str(t)) for t in tokens)


def _lookup(contract: dict[str, Any], pointer: str) -> Any:
    node: Any = contract
    for token in pointer.split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _deref(contract: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow `$ref`s between parameter, header, response, body and example objects."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"{pointer}: only local $refs are supported, not {ref}"
        pointer = ref[1:]
        node = _lookup(contract, pointer)
    return node, pointer


def _schema_target(contract: dict[str, Any], pointer: str) -> str:
    """The pointer of the schema that `pointer` names, past schemas that are only a `$ref`."""
    node = _lookup(contract, pointer)
    while isinstance(node, dict) and set(node) == {"$ref"} and node["$ref"].startswith("#/"):
        pointer = node["$ref"][1:]
        node = _lookup(contract, pointer)
    return pointer


def _examples_beside_schema(
    contract: dict[str, Any], holder: dict[str, Any], pointer: str
) -> Iterator[Example]:
    """The `example` and `examples` of a media type, parameter or header, against its `schema`."""
    schema = _schema_target(contract, pointer + "/schema")
    if "example" in holder:
        yield Example(pointer + "/example", schema, holder["example"])
    for name, entry in holder.get("examples", {}).items():
        example, where = _deref(contract, entry, pointer + _pointer("examples", name))
        assert "externalValue" not in example, (
            f"{where}: externalValue cannot be checked; inline it"
        )
        yield Example(where, schema, example["value"])


def _content_examples(
    contract: dict[str, Any], holder: dict[str, Any], pointer: str
) -> Iterator[Example]:
    for media, entry in holder.get("content", {}).items():
        yield from _examples_beside_schema(contract, entry, pointer + _pointer("content", media))


def _parameter_examples(contract: dict[str, Any], node: Any, pointer: str) -> Iterator[Example]:
    parameter, pointer = _deref(contract, node, pointer)
    if "schema" in parameter:
        yield from _examples_beside_schema(contract, parameter, pointer)
    yield from _content_examples(contract, parameter, pointer)


def operations(contract: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(operationId, operation, pointer) for every operation in `paths`."""
    for path, item in contract["paths"].items():
        for method in METHODS:
            if method in item:
                yield item[method]["operationId"], item[method], _pointer("paths", path, method)


def all_examples(contract: dict[str, Any]) -> list[Example]:
    """Every example in the contract, each once, with the schema it must satisfy."""
    found: list[Example] = []
    for path, item in contract["paths"].items():
        for i, node in enumerate(item.get("parameters", [])):
            found += _parameter_examples(contract, node, _pointer("paths", path, "parameters", i))
    for _, operation, at in operations(contract):
        for i, node in enumerate(operation.get("parameters", [])):
            found += _parameter_examples(contract, node, f"{at}/parameters/{i}")
        if "requestBody" in operation:
            body, where = _deref(contract, operation["requestBody"], f"{at}/requestBody")
            found += _content_examples(contract, body, where)
        for status, node in operation.get("responses", {}).items():
            response, where = _deref(contract, node, f"{at}/responses/{status}")
            found += _content_examples(contract, response, where)
            for name, header in response.get("headers", {}).items():
                found += _parameter_examples(contract, header, where + _pointer("headers", name))
    components = contract.get("components", {})
    for kind in ("parameters", "headers"):
        for name, node in components.get(kind, {}).items():
            found += _parameter_examples(contract, node, _pointer("components", kind, name))
    for kind in ("responses", "requestBodies"):
        for name, node in components.get(kind, {}).items():
            found += _content_examples(contract, node, _pointer("components", kind, name))
    unique: dict[tuple[str, str], Example] = {}
    for example in found:
        unique.setdefault((example.where, example.schema), example)
    return list(unique.values())


def example_errors(contract: dict[str, Any], example: Example) -> list[str]:
    """Why `example` breaks its schema (empty when it validates)."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, DRAFT202012.create_resource(contract)
    )
    validator = OAS31Validator(
        {"$ref": f"{SPEC_URI}#{example.schema}"},
        registry=registry,
        format_checker=OAS31Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(example.value)
    ]


CONTRACT = load_contract()
EXAMPLES = all_examples(CONTRACT)


def _example_id(example: Example) -> str:
    shared = sum(e.where == example.where for e in EXAMPLES) > 1
    return f"{example.where} as {example.schema}" if shared else example.where


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_example_validates_against_its_schema(example: Example) -> None:
    assert example_errors(CONTRACT, example) == []


def test_examples_are_found_in_every_part_of_the_contract() -> None:
    wheres = [e.where for e in EXAMPLES]
    assert len(EXAMPLES) >= 50
    for part in ("/components/examples/", "/components/parameters/", "/components/headers/"):
        assert any(w.startswith(part) for w in wheres), part
    assert any("/requestBody/content/" in w for w in wheres)
    assert any("/responses/" in w for w in wheres)


def test_format_checker_checks_the_formats_the_contract_uses() -> None:
    checker = OAS31Validator.FORMAT_CHECKER
    for fmt, bad in (("date-time", "2025-13-45"), ("email", "no-at-sign"), ("uuid", "nope")):
        assert not checker.conforms(bad, fmt), fmt


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_component_example_is_used() -> None:
    used = set(_refs(CONTRACT))
    unused = [
        name
        for name in CONTRACT["components"].get("examples", {})
        if f"#/components/examples/{_escape(name)}" not in used
    ]
    assert unused == [], "an unreferenced example is never checked against a schema"


@pytest.mark.parametrize(
    ("operation_id", "operation", "at"),
    list(operations(CONTRACT)),
    ids=[op_id for op_id, _, _ in operations(CONTRACT)],
)
def test_operation_shows_a_request_and_a_success_response(
    operation_id: str, operation: dict[str, Any], at: str
) -> None:
    if "requestBody" in operation:
        body, _ = _deref(CONTRACT, operation["requestBody"], at)
        for media, entry in body["content"].items():
            assert entry.get("examples") or "example" in entry, f"no {media} request example"
    successes = [s for s in operation["responses"] if str(s).startswith("2")]
    # An operation whose whole point is a redirect (`redoc`) answers a 3xx instead, and shows
    # where it leads.
    redirects = [s for s in operation["responses"] if str(s)[0] == "3" and str(s) != "304"]
    assert successes or redirects, f"{operation_id} declares no success response"
    for status in redirects:
        response, where = _deref(CONTRACT, operation["responses"][status], at)
        location, _ = _deref(CONTRACT, response.get("headers", {}).get("Location"), where)
        assert "example" in (location or {}), f"no {status} Location example"
    for status in successes:
        response, _ = _deref(CONTRACT, operation["responses"][status], at)
        for media, entry in response.get("content", {}).items():
            assert entry.get("examples") or "example" in entry, f"no {status} {media} example"


def test_a_broken_example_is_caught() -> None:
    """The checks above would notice: break a shared example and a parameter example."""
    broken = copy.deepcopy(CONTRACT)
    broken["components"]["examples"]["Task"]["value"]["priority"] = "urgent"
    broken["components"]["examples"]["Task"]["value"]["due_date"] = "next tuesday"
    broken["components"]["parameters"]["Limit"]["example"] = 1000
    already = {e.where for e in EXAMPLES if example_errors(CONTRACT, e)}
    failures = {
        e.where: errors
        for e in all_examples(broken)
        if e.where not in already and (errors := example_errors(broken, e))
    }
    assert set(failures) == {
        "/components/examples/Task",
        "/components/parameters/Limit/example",
    }
    assert any("'urgent' is not one of" in m for m in failures["/components/examples/Task"])
    assert any("is not a 'date-time'" in m for m in failures["/components/examples/Task"])


def test_changelog_records_the_contract_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    api = re.search(r"^## API\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    assert api, "CHANGELOG.md has no '## API' section"
    version = CONTRACT["info"]["version"]
    assert re.search(rf"^### {re.escape(version)}\b", api.group(1), re.M), (
        f"CHANGELOG.md's API section has no '### {version}' entry for openapi.yaml's info.version"
    )
