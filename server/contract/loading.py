"""openapi.yaml, loaded once per process, with the formats, casters and media types it reads by
(the adapters that hand it a request or a reply: server/contract/adapters.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.casting.schemas import oas31_casters_dict
from openapi_core.casting.schemas.casters import (
    AnyCaster,
    IntegerCaster,
    NumberCaster,
    PrimitiveCaster,
    TypesCaster,
)
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.unmarshalling.request.unmarshallers import V31RequestBodyUnmarshaller
from openapi_core.validation.schemas import oas31_schema_validators_factory

from server.resources import CONTRACT_PATH

# No body of the contract nests past a few levels; openapi-core's validators recurse (and
# repr what they refuse), so a value nested a thousand deep would overflow the stack: a 500.
MAX_JSON_DEPTH = 64


def _json(value: bytes | str, **_params: str) -> Any:
    return _shallow(orjson.loads(value))


def _json_std(value: bytes | str, **_params: str) -> Any:
    """openapi-core's own reading (the standard library's, which keeps a lone surrogate for the
    storable-text check to name), with nesting past the recursion limit as malformed JSON."""
    try:
        return _shallow(json.loads(value))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _shallow(value: Any) -> Any:
    """The value, unless it nests deeper than MAX_JSON_DEPTH (then malformed, a 400)."""
    if too_deep(value):
        raise ValueError("JSON nested too deeply")
    return value


def too_deep(value: Any) -> bool:
    """Whether a parsed JSON value nests deeper than MAX_JSON_DEPTH (walked in a loop)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return False


def _text(value: bytes | str, **_params: str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _yaml(value: bytes | str, **_params: str) -> Any:
    return yaml.load(value, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def _date_time(value: str) -> datetime:
    """RFC 3339 allows a lower-case t and z; openapi-core's default parser does not."""
    return datetime.fromisoformat(value.upper())


_HEX = "[0-9a-fA-F]"  # spelled out: a re.I pattern takes twice as long to match
_CANONICAL_UUID = re.compile(f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}")


def _uuid(value: str) -> str:
    """A uuid as the text PostgreSQL and the answers use (lower case, hyphenated); the common
    spelling is checked by a pattern, without building a UUID object per id."""
    if _CANONICAL_UUID.fullmatch(value):
        return value.lower()
    return str(uuid.UUID(value))  # any other spelling uuid reads, or ValueError


# A number in a path, query or header, as JSON writes one. int() and float() also read `1_0`,
# ` 10`, `+10`, `nan` and other scripts' digits (Arabic-Indic 10): not numbers here.
INTEGER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


class _IntegerText(IntegerCaster):
    def validate(self, value: Any) -> None:
        if isinstance(value, str) and not INTEGER.fullmatch(value):
            raise ValueError("not an integer")


class _NumberText(NumberCaster):
    def validate(self, value: Any) -> None:
        if isinstance(value, str) and not NUMBER.fullmatch(value):
            raise ValueError("not a number")


CASTERS = SchemaCastersFactory(
    oas31_schema_validators_factory,
    TypesCaster(
        {**oas31_casters_dict, "integer": _IntegerText, "number": _NumberText},
        AnyCaster,
        multi=PrimitiveCaster,
    ),
)

# Values of these formats reach handlers as these Python values, in both validation paths.
FORMAT_UNMARSHALLERS: dict[str, Any] = {"date-time": _date_time, "uuid": _uuid}

_EMAIL = jsonschema_rs.validator_for({"format": "email"}, validate_formats=True)


def _email(value: Any) -> bool:
    """openapi-core's own email check is only "has an @"; the fast path and schemathesis use
    jsonschema-rs's, which refuses control characters. One meaning for the contract's word."""
    try:
        return not isinstance(value, str) or bool(_EMAIL.is_valid(value))
    except UnicodeEncodeError:  # an unpaired surrogate
        return False


FORMAT_VALIDATORS: dict[str, Any] = {"email": _email}

MEDIA_TYPE_DESERIALIZERS: dict[str, Any] = {
    "application/json": _json_std,
    "application/problem+json": _json,
    "application/merge-patch+json": _json,
    "application/yaml": _yaml,
    "text/html": _text,
    "text/calendar": _text,
    "text/csv": _text,
}
# The security scheme of personal access tokens (issue 27): an operation's requirement naming it
# lists the scopes a token needs there; an operation naming it nowhere is for sessions alone.
TOKEN_SCHEME = "personalToken"  # noqa: S105 (a scheme name, not a secret)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    secured: bool
    required_role: str | None  # x-required-role: what the caller needs on the list it acts on
    # A path parameter of `format: password` (a calendar feed's secret): the access log writes
    # the path template instead of the path.
    secret_path: bool = False
    query_names: frozenset[str] = frozenset()  # the query parameters it declares
    # x-open-query: a document or probe, which ignores query names it does not declare (a
    # shared link's utm_source, a health checker's cache buster) instead of answering 400.
    open_query: bool = False
    # The cookie an apiKey scheme `in: cookie` reads, when the operation's security lists one
    # as an alternative to the bearer token (the browser's EventSource sends no header).
    cookie: str | None = None
    # The scopes a personal access token needs (all of them); None: no token may call it.
    token_scopes: frozenset[str] | None = None

    @property
    def sanic_uri(self) -> str:
        """/api/{user_id}/tasks -> /api/<user_id:str>/tasks"""
        return re.sub(r"\{(\w+)\}", r"<\1:str>", self.path)


class Contract:
    """The parsed contract: raw text for serving, the openapi-core app, the operation table."""

    def __init__(self, path: Path = CONTRACT_PATH) -> None:
        self.yaml_bytes = path.read_bytes()  # served as is: one object, checked once
        self.document: dict[str, Any] = yaml.safe_load(self.yaml_bytes)
        self.openapi = OpenAPI.from_dict(
            self.document,
            config=Config(
                schema_casters_factory=CASTERS,
                extra_media_type_deserializers=MEDIA_TYPE_DESERIALIZERS,
                extra_format_validators=FORMAT_VALIDATORS,
                extra_format_unmarshallers=FORMAT_UNMARSHALLERS,
            ),
        )

    @cached_property
    def json_bytes(self) -> bytes:
        return orjson.dumps(self.document)

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(self._operations())

    @cached_property
    def by_id(self) -> dict[str, Operation]:
        return {op.operation_id: op for op in self.operations}

    @cached_property
    def body_unmarshaller(self) -> V31RequestBodyUnmarshaller:
        """openapi-core on a request's body alone (a batch item's), configured as for a whole
        request."""
        config = self.openapi.config
        return V31RequestBodyUnmarshaller(
            self.openapi.spec,
            base_url=config.server_base_url,
            style_deserializers_factory=config.style_deserializers_factory,
            media_type_deserializers_factory=config.media_type_deserializers_factory,
            schema_casters_factory=config.schema_casters_factory,
            schema_validators_factory=config.schema_validators_factory,
            path_finder_cls=config.path_finder_cls,
            spec_validator_cls=config.spec_validator_cls,
            extra_format_validators=config.extra_format_validators,
            extra_media_type_deserializers=config.extra_media_type_deserializers,
            forbid_unspecified_additional_properties=(
                config.additional_properties_default_policy == "forbid"
            ),
            schema_unmarshallers_factory=config.schema_unmarshallers_factory,
            extra_format_unmarshallers=config.extra_format_unmarshallers,
        )

    def _resolved(self, node: Any) -> Any:
        """A local `$ref` (#/components/...) followed to what it names."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.document
            for token in node["$ref"].removeprefix("#/").split("/"):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _operations(self) -> Iterator[Operation]:
        default_security = self.document.get("security", [])
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        cookies = {
            name: scheme["name"]
            for name, scheme in schemes.items()
            if scheme.get("type") == "apiKey" and scheme.get("in") == "cookie"
        }
        for path, item in self.document["paths"].items():
            for method in HTTP_METHODS:
                op = item.get(method)
                if op is None:
                    continue
                security = op.get("security", default_security)
                yield Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    secured=any(requirement for requirement in security),
                    required_role=op.get("x-required-role"),
                    secret_path=any(
                        param.get("in") == "path"
                        and param.get("schema", {}).get("format") == "password"
                        for param in self._parameters(item, op)
                    ),
                    query_names=frozenset(
                        param["name"]
                        for param in self._parameters(item, op)
                        if param["in"] == "query"
                    ),
                    open_query=bool(op.get("x-open-query", False)),
                    cookie=next(
                        (cookies[name] for req in security for name in req if name in cookies),
                        None,
                    ),
                    token_scopes=next(
                        (frozenset(req[TOKEN_SCHEME]) for req in security if TOKEN_SCHEME in req),
                        None,
                    ),
                )

    def _parameters(self, item: dict[str, Any], op: dict[str, Any]) -> Iterator[Any]:
        """An operation's parameters, its path's and its own, each $ref followed."""
        return map(self._resolved, (*item.get("parameters", []), *op.get("parameters", [])))
