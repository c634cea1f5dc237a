"""A plan compiled once per operation that accepts what openapi-core accepts, in microseconds.

openapi-core stays the validator of record: a plan only ever says "valid, and here are the
values openapi-core would have produced", "invalid, and here are the errors openapi-core would
have reported" (server/contract/rejections.py: no slower engine re-runs what the fast one has
already rejected), or "unsure". Whatever it is unsure of (a format, malformed JSON, a
duplicated header, a status it has no plan for) goes to openapi-core, whose verdict and error
are the ones the client sees. Plans are compiled from
openapi.yaml itself (jsonschema-rs validators, casters, defaults and openapi-core's own format
unmarshallers), so the contract stays the only place a schema is written.
tests/test_fastpath.py holds the differential test that proves the parity.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from multidict import CIMultiDict
from openapi_core.unmarshalling.schemas import oas31_format_unmarshallers

from server.contract.adapters import HttpRequest, query_args
from server.contract.loading import (
    FORMAT_UNMARSHALLERS,
    INTEGER,
    MAX_JSON_DEPTH,
    Contract,
    too_deep,
)
from server.contract.rejections import Unworded, rejection_items
from server.contract.validation import RequestValues
from server.errors import BadParameters, UnprocessableContent

MAX_INTEGER_DIGITS = 18  # int64's range, beyond any bound in the contract
FORMATS = {**oas31_format_unmarshallers, **FORMAT_UNMARSHALLERS}
Convert = Callable[[Any], Any]
_MISSING = object()


class Unsure(Exception):
    """The plan cannot vouch for this input: openapi-core decides."""


def _identity(value: Any) -> Any:
    return value


class Compiler:
    """Turns schemas of the contract into jsonschema-rs validators and value converters."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.components = document.get("components", {})

    def resolve(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            target: Any = self.document
            for part in str(node["$ref"])[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validator(self, schema: Mapping[str, Any]) -> Any:
        return jsonschema_rs.validator_for(
            {**schema, "components": self.components}, validate_formats=True
        )

    def merged(self, schema: Any) -> dict[str, Any]:
        """The schema with its allOf members folded in (for formats, defaults, properties)."""
        node = dict(self.resolve(schema))
        for member in node.pop("allOf", []):
            for key, value in self.merged(member).items():
                node.setdefault(key, value)
        return node

    def converter(self, schema: Any) -> Convert:
        """openapi-core's unmarshalling of a valid value: defaults and format objects."""
        node = self.merged(schema)
        unmarshal = FORMATS.get(node.get("format", ""))
        if unmarshal is not None:
            return _formatted(unmarshal)
        if "properties" in node:
            return self._object_converter(node["properties"])
        if "items" in node:
            item = self.converter(node["items"])
            if item is not _identity:
                return lambda value: [item(v) for v in value] if isinstance(value, list) else value
        return _identity

    def _object_converter(self, properties: Mapping[str, Any]) -> Convert:
        fields: list[tuple[str, Convert, Any]] = []
        for name, prop in properties.items():
            merged = self.merged(prop)
            fields.append((name, self.converter(prop), merged.get("default", _MISSING)))
        active = [(n, c, d) for n, c, d in fields if c is not _identity or d is not _MISSING]
        if not active:
            return _identity

        def convert(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            out = dict(value)
            for name, conv, default in active:
                if name in out:
                    out[name] = conv(out[name])
                elif default is not _MISSING:
                    out[name] = copy.deepcopy(default)
            return out

        return convert


def _formatted(unmarshal: Convert) -> Convert:
    """A value the format unmarshaller can't read is one the plan won't vouch for (the
    faster engine accepts a leap second, 23:59:60, that openapi-core's checker refuses)."""

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return unmarshal(value)
        except (AttributeError, ValueError, TypeError):
            raise Unsure from None

    return convert


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    array: bool
    item_type: str
    default: Any
    validator: Any
    convert: Convert


@dataclass(frozen=True)
class ResponsePlan:
    content: Mapping[str, Any]  # mimetype -> validator (None: not JSON, openapi-core checks)
    headers: Mapping[str, tuple[bool, str, Any]]  # lower name -> (required, type, validator)


class OperationPlan:
    def __init__(self, compiler: Compiler, path_item: Mapping[str, Any], op: Mapping[str, Any]):
        declared = [*path_item.get("parameters", []), *op.get("parameters", [])]
        self.parameters = [self._parameter(compiler, p) for p in declared]
        body = compiler.resolve(op.get("requestBody", {}))
        self.has_body = bool(body)
        self.body_required = bool(body.get("required", False))
        self.body_types: dict[str, tuple[Any, Convert]] = {}
        for mimetype, media in body.get("content", {}).items():
            schema = media.get("schema", {})
            self.body_types[mimetype] = (compiler.validator(schema), compiler.converter(schema))
        self.responses = {
            status: self._response(compiler, response)
            for status, response in op.get("responses", {}).items()
        }

    @staticmethod
    def _parameter(compiler: Compiler, raw: Mapping[str, Any]) -> Parameter:
        param = compiler.resolve(raw)
        schema = compiler.merged(param.get("schema", {}))
        array = schema.get("type") == "array"
        item = compiler.merged(schema.get("items", {})) if array else schema
        if param.get("style", "form" if param["in"] == "query" else "simple") not in (
            "form",
            "simple",
        ) or (array and not param.get("explode", param["in"] == "query")):
            raise ValueError(f"parameter {param['name']}: no fast plan for its style")
        return Parameter(
            name=param["name"],
            location=param["in"],
            required=bool(param.get("required", False)),
            array=array,
            item_type=str(item.get("type", "string")),
            default=schema.get("default", _MISSING),
            validator=compiler.validator(param.get("schema", {})),
            convert=compiler.converter(param.get("schema", {})),
        )

    @staticmethod
    def _response(compiler: Compiler, raw: Mapping[str, Any]) -> ResponsePlan:
        response = compiler.resolve(raw)
        content = {
            mimetype: compiler.validator(media.get("schema", {})) if "json" in mimetype else None
            for mimetype, media in response.get("content", {}).items()
        }
        headers = {}
        for name, header in response.get("headers", {}).items():
            header = compiler.resolve(header)
            schema = compiler.merged(header.get("schema", {}))
            headers[name.lower()] = (
                bool(header.get("required", False)),
                str(schema.get("type", "string")),
                compiler.validator(header.get("schema", {})),
            )
        return ResponsePlan(content, headers)

    def read_request(self, request: HttpRequest, validate: bool) -> RequestValues:
        return self.read(
            query_args(request), request.match_info, request.headers, request.body, validate
        )

    def read(
        self,
        query_args: Iterable[tuple[str, str]],
        path: Mapping[str, str],
        headers: CIMultiDict[str],
        body: bytes | None,
        validate: bool,
    ) -> RequestValues:
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        query: dict[str, list[str]] = {}
        for key, arg in query_args:
            query.setdefault(key, []).append(arg)
        invalid: list[dict[str, Any]] = []  # one item per parameter, as openapi-core reports
        for param in self.parameters:
            raw = self._raw(param, path, headers, query)
            if raw is None:
                if param.required:
                    raise Unsure
                if param.default is not _MISSING:
                    default = param.default
                    if isinstance(default, list | dict):  # a fresh one: the handler may change it
                        default = copy.deepcopy(default)
                    values[param.location][param.name] = default
                continue
            loc = [param.location, param.name]
            try:
                value: Any = (
                    [_cast(param.item_type, v) for v in raw]
                    if param.array
                    else _cast(param.item_type, raw[0])
                )
            except _OutOfRange:
                invalid.append({"loc": loc, "msg": "is out of range", "type": "value_error"})
                continue
            if validate and not _is_valid(param.validator, value):
                invalid.extend(_rejected(param.validator, value, loc)[:1])
                continue
            values[param.location][param.name] = param.convert(value)
        if self.has_body:
            try:
                body = self._body(headers, body, validate)
            except UnprocessableContent:
                if not invalid:
                    raise
        else:
            body = None
        if invalid:
            raise BadParameters(errors=invalid)
        return RequestValues(
            path=values["path"], query=values["query"], headers=values["header"], body=body
        )

    @staticmethod
    def _raw(
        param: Parameter,
        path: Mapping[str, str],
        headers: CIMultiDict[str],
        query: dict[str, list[str]],
    ) -> list[str] | None:
        if param.location == "query":
            return query.get(param.name)
        if param.location == "path":
            value = path.get(param.name)
            return None if value is None else [value]
        if param.location == "header":
            found = headers.getall(param.name, [])
            if len(found) > 1:
                raise Unsure
            return found or None
        raise Unsure

    def _body(self, headers: CIMultiDict[str], raw: bytes | None, validate: bool) -> Any:
        if not raw:
            if self.body_required:
                raise Unsure
            return None
        mimetype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        plan = self.body_types.get(mimetype)
        if plan is None:
            raise Unsure
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Unsure from None
        # Nesting past MAX_JSON_DEPTH is openapi-core's malformed JSON (loading.py); only a body
        # with more brackets than that can nest so deep, so most are never walked.
        if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and too_deep(body):
            raise Unsure
        return self.parsed_body(body, mimetype, validate)

    def parsed_body(self, body: Any, mimetype: str, validate: bool = True) -> Any:
        """A body already parsed from JSON (a request's, or a batch item's), validated and
        converted as openapi-core would: 422 with its errors, or Unsure when openapi-core must
        word them."""
        validator, convert = self.body_types[mimetype]
        if validate and not validator.is_valid(body):
            raise UnprocessableContent(errors=_rejected(validator, body, ["body"]))
        return convert(body)

    def check_response(
        self, status: int, headers: Mapping[str, str], content_type: str, data: bytes | None
    ) -> None:
        plan = self.responses.get(str(status))
        if plan is None:
            raise Unsure
        present = {k.lower(): v for k, v in headers.items()}
        for name, (required, kind, validator) in plan.headers.items():
            value: Any = present.get(name)
            if value is None:
                if required:
                    raise Unsure
                continue
            if kind == "integer":
                if not INTEGER.fullmatch(value):
                    raise Unsure
                value = int(value)
            if not validator.is_valid(value):
                raise Unsure
        if not plan.content:
            if data:
                raise Unsure
            return
        validator = plan.content.get(content_type.split(";", 1)[0].strip().lower(), _MISSING)
        if validator is _MISSING or validator is None or data is None:
            raise Unsure
        if not validator.is_valid(orjson.loads(data)):
            raise Unsure


def _is_valid(validator: Any, value: Any) -> bool:
    """jsonschema-rs reads UTF-8 only; a header's undecodable bytes reach us as surrogates,
    and such a value is openapi-core's to judge."""
    try:
        return bool(validator.is_valid(value))
    except UnicodeEncodeError:
        raise Unsure from None


def _rejected(validator: Any, value: Any, loc: list[Any]) -> list[dict[str, Any]]:
    """The errors of a value the plan knows is invalid, unless openapi-core must word them."""
    try:
        return rejection_items(validator, value, loc)
    except Unworded:
        raise Unsure from None


class _OutOfRange(Exception):
    """A number too long to be any value the contract allows (and too long for int())."""


def _cast(kind: str, raw: str) -> Any:
    if raw == "":
        raise Unsure
    if kind == "integer":
        if not INTEGER.fullmatch(raw):
            raise Unsure
        if len(raw.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise _OutOfRange
        return int(raw)
    if kind == "string":
        return raw
    raise Unsure


def compile_plans(contract: Contract) -> dict[str, OperationPlan]:
    """One plan per operationId, built at start-up."""
    compiler = Compiler(contract.document)
    plans = {}
    for op in contract.operations:
        path_item = contract.document["paths"][op.path]
        plans[op.operation_id] = OperationPlan(compiler, path_item, path_item[op.method.lower()])
    return plans
