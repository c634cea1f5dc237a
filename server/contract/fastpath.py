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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from multidict import CIMultiDict
from openapi_core.unmarshalling.schemas import oas31_format_unmarshallers
from openapi_core.util import BOOLEAN_FALSE_VALUES, BOOLEAN_TRUE_VALUES

from server.contract.adapters import HttpRequest, query_args
from server.contract.loading import (
    FORMAT_UNMARSHALLERS,
    INTEGER,
    MAX_JSON_DEPTH,
    MEDIA_TYPE_DESERIALIZERS,
    Contract,
    too_deep,
)
from server.contract.query_names import check_query_names
from server.contract.rejections import Unworded, rejection_items
from server.contract.validation import (
    RequestValues,
    empty_query_value,
    invalid_parameters,
    malformed_json,
    missing_body,
    missing_parameter,
    uncastable,
    unsupported_media_type,
)
from server.errors import ApiError, BadRequest, UnprocessableContent, UnsupportedMediaType

MAX_INTEGER_DIGITS = 18  # int64's range, beyond any bound in the contract
REPEATED = "A query parameter that takes one value was given more than once."
FORMATS = {**oas31_format_unmarshallers, **FORMAT_UNMARSHALLERS}
Convert = Callable[[Any], Any]
_MISSING = object()
SURROGATE = re.compile("[\ud800-\udfff]")
ANY_TEXT = object()  # a reply's text that any string satisfies


class Unsure(Exception):
    """The plan cannot vouch for this input: openapi-core decides."""


def _identity(value: Any) -> Any:
    return value


# The contract's components as one resource of a registry that every validator shares: each
# validator compiles its own schema against it (a validator given the whole section as its own
# root, as before, held a copy of it: 569 of them took 300 MB and 0.8 s at start). Equal schemas
# share one validator: of 1,110 that 80 operations ask for, 88 differ (692 are the Problem of an
# error answer), and compiling each apart took 35 MB of a worker's 160 at start.
COMPONENTS_URI = "urn:todo-api:contract"
# Keywords whose values are data, never schemas: a "$ref" inside them is not a reference.
DATA_KEYWORDS = frozenset({"const", "default", "enum", "example", "examples"})
# Keywords whose values map names (any word, "default" too) to schemas.
NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})


class Compiler:
    """Turns schemas of the contract into jsonschema-rs validators and value converters."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.registry = jsonschema_rs.Registry(
            [(COMPONENTS_URI, {"components": document.get("components", {})})]
        )
        self.validators: dict[bytes, Any] = {}

    def resolve(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            target: Any = self.document
            for part in str(node["$ref"])[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validator(self, schema: Mapping[str, Any]) -> Any:
        key = orjson.dumps(
            schema, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
        )
        if key not in self.validators:
            self.validators[key] = jsonschema_rs.validator_for(
                _in_registry(schema), validate_formats=True, registry=self.registry
            )
        return self.validators[key]

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
        if "oneOf" in node:
            alternatives = node["oneOf"]
            options = list(
                zip(self._fits(alternatives), map(self.converter, alternatives), strict=True)
            )
            if any(convert is not _identity for _, convert in options):
                return _one_of(options)
        if "items" in node:
            item = self.converter(node["items"])
            if item is not _identity:
                return lambda value: [item(v) for v in value] if isinstance(value, list) else value
        return _identity

    def _fits(self, alternatives: list[Any]) -> list[Callable[[Any], bool]]:
        """For each alternative of a oneOf, whether a value valid for the oneOf is of it: by
        its keys alone when the alternatives are objects that take no other properties and
        no object has the keys of two (a reminder's `at` or `before_due`), else by its
        validator."""
        shapes = []
        for alternative in map(self.merged, alternatives):
            closed = alternative.get("additionalProperties", True) is False
            if alternative.get("type") != "object" or not closed:
                return [self.validator(alt).is_valid for alt in alternatives]
            shapes.append(
                (set(alternative.get("required", ())), set(alternative.get("properties", {})))
            )
        for i, (required, known) in enumerate(shapes):
            for other_required, other_known in shapes[i + 1 :]:
                if required | other_required <= known & other_known:  # one object may fit both
                    return [self.validator(alt).is_valid for alt in alternatives]
        return [_keyed(required, known) for required, known in shapes]

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


def _in_registry(node: Any) -> Any:
    """The schema with its references into the document ("#/components/...") made references
    into the shared registry's resource (references inside the components already are)."""
    if isinstance(node, list):
        return [_in_registry(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            out[key] = COMPONENTS_URI + value
        elif key in DATA_KEYWORDS:
            out[key] = value
        elif key in NAMED_SCHEMAS and isinstance(value, Mapping):
            out[key] = {name: _in_registry(schema) for name, schema in value.items()}
        else:
            out[key] = _in_registry(value)
    return out


def _keyed(required: set[str], known: set[str]) -> Callable[[Any], bool]:
    return lambda value: (
        isinstance(value, dict) and required <= value.keys() and value.keys() <= known
    )


def _one_of(options: list[tuple[Callable[[Any], bool], Convert]]) -> Convert:
    """A valid value matches exactly one alternative: converted as that one (a reminder's
    `at` becomes the datetime openapi-core makes of it)."""

    def convert(value: Any) -> Any:
        for fits, conv in options:
            if fits(value):
                return conv(value)
        return value

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
        self.document = compiler.document  # where the errors' schemas are found
        declared = [*op.get("parameters", []), *path_item.get("parameters", [])]
        self.parameters: list[Parameter] = []
        for raw in declared:  # openapi-core's order: its errors come in this order
            param = self._parameter(compiler, raw)
            if all((p.name, p.location) != (param.name, param.location) for p in self.parameters):
                self.parameters.append(param)
        self.query_names = frozenset(p.name for p in self.parameters if p.location == "query")
        self.scalar_queries = self.query_names - {p.name for p in self.parameters if p.array}
        self.open_query = bool(op.get("x-open-query", False))  # see Operation.open_query
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
        # The same plans by the int a reply carries (`default` or `2XX` plans no reply: Unsure).
        self.by_status = {int(k): plan for k, plan in self.responses.items() if k.isdigit()}

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
            mimetype: _content_check(compiler, mimetype, media.get("schema", {}))
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
            query_args(request) if request.query_string else (),
            request.match_info,
            request.headers,
            request.body,
            validate,
        )

    def read(
        self,
        query_args: Iterable[tuple[str, str]],
        path: Mapping[str, str],
        headers: CIMultiDict[str],
        body: bytes | None,
        validate: bool,
    ) -> RequestValues:
        """The request's values, or the ApiError openapi-core's verdict is worded as, or
        Unsure. A query parameter the operation does not take, then one of one value given
        twice, is refused before anything else, whoever decides the rest (openapi-core would
        ignore the first and take the first value of the second)."""
        values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        query: dict[str, list[str]] = {}
        for key, arg in query_args:
            query.setdefault(key, []).append(arg)
        if query:  # (an empty one has no unknown or repeated name)
            if validate and not self.open_query:
                check_query_names(query, self.query_names)
            repeated = [name for name in self.scalar_queries if len(query.get(name, ())) > 1]
            if repeated:
                raise BadRequest(REPEATED, errors=[_repeated(name) for name in sorted(repeated)])
        invalid: list[dict[str, Any]] = []  # one item per parameter, as openapi-core reports
        for param in self.parameters:
            raw = self._raw(param, path, headers, query)
            if raw is None:
                if param.required:
                    invalid.append(missing_parameter([param.location, param.name]))
                elif param.default is not _MISSING:
                    default = param.default
                    if isinstance(default, list | dict):  # a fresh one: the handler may change it
                        default = copy.deepcopy(default)
                    values[param.location][param.name] = default
                continue
            try:
                value: Any = (
                    [_cast(param.item_type, v) for v in raw]
                    if param.array
                    else _cast(param.item_type, raw[0], param.location == "query")
                )
            except _Refused as refused:
                invalid.append(refused.item([param.location, param.name]))
                continue
            if validate and not _is_valid(param.validator, value):
                loc = [param.location, param.name]
                invalid.extend(_rejected(param.validator, value, loc, self.document)[:1])
                continue
            values[param.location][param.name] = param.convert(value)
        body = self._read_body(headers, body, validate, bool(invalid)) if self.has_body else None
        if invalid:
            raise invalid_parameters(invalid)
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
        if param.location == "header":  # given twice, the first (as openapi-core reads it)
            found = headers.get(param.name)
            return None if found is None else [found]
        raise Unsure

    def _read_body(
        self, headers: CIMultiDict[str], raw: bytes | None, validate: bool, params_invalid: bool
    ) -> Any:
        """The body; its media type refused comes before any parameter's error, and anything
        else about it after them (request_error's order)."""
        try:
            return self._body(headers, raw, validate)
        except UnsupportedMediaType:
            raise
        except (ApiError, Unsure):
            if params_invalid:
                return None  # the parameters' 400 is the answer
            raise

    def _body(self, headers: CIMultiDict[str], raw: bytes | None, validate: bool) -> Any:
        if not raw:
            if self.body_required:
                raise missing_body()
            return None
        mimetype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        plan = self.body_types.get(mimetype)
        if plan is None:
            raise unsupported_media_type(list(self.body_types))
        if mimetype.startswith("text/"):  # a text body is its characters (import's CSV)
            return self.parsed_body(_text_body(raw), mimetype, validate)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._body_read_as_openapi_core(mimetype, raw, validate)
        # Nesting past MAX_JSON_DEPTH is openapi-core's malformed JSON (loading.py); only a body
        # with more brackets than that can nest so deep, so most are never walked.
        if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and too_deep(body):
            raise malformed_json()
        return self.parsed_body(body, mimetype, validate)

    def parsed_body(self, body: Any, mimetype: str, validate: bool = True) -> Any:
        """A body already parsed from JSON (a request's, or a batch item's), validated and
        converted as openapi-core would: 422 with its errors, or Unsure when openapi-core must
        word them."""
        validator, convert = self.body_types[mimetype]
        if validate and not validator.is_valid(body):
            raise UnprocessableContent(errors=_rejected(validator, body, ["body"], self.document))
        return convert(body)

    def _body_read_as_openapi_core(self, mimetype: str, raw: bytes, validate: bool) -> Any:
        """What orjson refused, read by openapi-core's own reader of the media type (loading.py):
        malformed for it too (the usual case) is a 400 decided here; it also reads what orjson
        does not (NaN, a lone surrogate, UTF-16, a byte-order mark, integers past 64 bits), and
        such a body is left to openapi-core whole."""
        try:
            MEDIA_TYPE_DESERIALIZERS[mimetype](raw)
        except (ValueError, TypeError):
            raise malformed_json() from None
        raise Unsure

    def check_response(
        self, status: int, headers: Mapping[str, str], content_type: str, data: bytes | None
    ) -> None:
        plan = self.by_status.get(status)
        if plan is None:
            raise Unsure
        present = {k.lower(): v for k, v in headers.items()} if plan.headers else {}
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
        validator = plan.content.get(content_type, _MISSING)  # as most replies spell it
        if validator is _MISSING:
            validator = plan.content.get(content_type.split(";", 1)[0].strip().lower(), _MISSING)
        if validator is _MISSING or validator is None or data is None:
            raise Unsure
        if validator is not ANY_TEXT and not validator.is_valid(orjson.loads(data)):
            raise Unsure


def _text_body(raw: bytes) -> str:
    """A text/* body as its UTF-8 characters (a byte-order mark dropped); 400 otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8 text.") from None


def _content_check(compiler: Compiler, mimetype: str, schema: Any) -> Any:
    """A JSON reply's validator; ANY_TEXT for text whose schema is any string (openapi-core
    reads text/* bytes as a string whatever they hold: /metrics); None for the rest, which
    openapi-core checks."""
    if "json" in mimetype:
        return compiler.validator(schema)
    if mimetype.startswith("text/") and compiler.resolve(schema) == {"type": "string"}:
        return ANY_TEXT
    return None


def _is_valid(validator: Any, value: Any) -> bool:
    """jsonschema-rs reads UTF-8 only; a query's or header's bytes that are not UTF-8 reach us
    as lone surrogates, which it is given as U+FFFD: one character for one, matched alike by
    every pattern, enum and format of the contract's parameters (the parity test checks it),
    while the handler gets the value as sent (and the storable-text check refuses it)."""
    try:
        return bool(validator.is_valid(value))
    except UnicodeEncodeError:
        return bool(validator.is_valid(_stand_in(value)))


def _stand_in(value: Any) -> Any:
    if isinstance(value, list):
        return [_stand_in(item) for item in value]
    return SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _rejected(
    validator: Any, value: Any, loc: list[Any], document: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The errors of a value the plan knows is invalid, unless openapi-core must word them."""
    try:
        return rejection_items(validator, _stand_in(value), loc, document)
    except Unworded:
        raise Unsure from None


class _Refused(Exception):
    """A raw parameter value openapi-core refuses before its schema is consulted."""

    def __init__(self, item: Callable[[list[Any]], dict[str, Any]]) -> None:
        self.item = item


def _out_of_range(loc: list[Any]) -> dict[str, Any]:
    """A number too long to be any value the contract allows (and too long for int())."""
    return {"loc": loc, "msg": "is out of range", "type": "value_error"}


BOOLEAN_LONGEST = max(map(len, BOOLEAN_TRUE_VALUES + BOOLEAN_FALSE_VALUES))


def _cast(kind: str, raw: str, query_scalar: bool = False) -> Any:
    if kind == "integer":
        if not INTEGER.fullmatch(raw):
            raise _Refused(uncastable)
        if len(raw.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise _Refused(_out_of_range)
        return int(raw)
    if kind == "string":
        if raw == "" and query_scalar:
            raise _Refused(empty_query_value)
        return raw
    if kind == "boolean" and len(raw) <= BOOLEAN_LONGEST:  # import's dry_run
        lowered = raw.lower()  # openapi-core's reading (its forcebool); the rest is its to word
        if lowered in BOOLEAN_TRUE_VALUES:
            return True
        if lowered in BOOLEAN_FALSE_VALUES:
            return False
    raise Unsure


def _repeated(name: str) -> dict[str, Any]:
    return {"loc": ["query", name], "msg": "must be given once", "type": "repeated"}


def compile_plans(contract: Contract) -> dict[str, OperationPlan]:
    """One plan per operationId, built at start-up."""
    compiler = Compiler(contract.document)
    plans = {}
    for op in contract.operations:
        path_item = contract.document["paths"][op.path]
        plans[op.operation_id] = OperationPlan(compiler, path_item, path_item[op.method.lower()])
    return plans
