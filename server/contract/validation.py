"""Run openapi-core on a request or a reply and turn what it finds into ApiErrors."""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.deserializing.exceptions import DeserializeError
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    MissingParameterError,
    MissingRequestBodyError,
    ParameterValidationError,
    RequestBodyValidationError,
    SecurityValidationError,
)

from server.contract.adapters import OpenAPIBody, SanicOpenAPIRequest, SanicOpenAPIResponse
from server.contract.loading import Contract
from server.contract.query_names import check_query_names
from server.contract.wording import worded
from server.errors import (
    ApiError,
    BadParameters,
    BadRequest,
    Unauthorized,
    UnprocessableContent,
    UnsupportedMediaType,
)

log = logging.getLogger("todo_api")


class RequestValues(NamedTuple):
    """What a handler reads: path, query and header parameters, and the body, all validated.
    (A tuple: made on every request, in 0.44 µs where a frozen dataclass took 0.70.)"""

    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, Any]
    body: Any


class ResponseMismatch(Exception):
    """A reply that breaks the contract: a bug of ours, answered as a 500."""


def validate_request(contract: Contract, adapter: SanicOpenAPIRequest) -> RequestValues:
    """openapi-core's verdict, after the query's names (openapi-core ignores unknown ones)."""
    if not adapter.operation.open_query:
        check_query_names(adapter.parameters.query.keys(), adapter.operation.query_names)
    result = contract.openapi.request_unmarshaller.unmarshal(adapter)
    if result.errors:
        raise request_error(list(result.errors))
    params = result.parameters
    return RequestValues(
        path=dict(params.path),
        query=dict(params.query),
        headers=dict(params.header),
        body=result.body,
    )


def validate_body(contract: Contract, adapter: OpenAPIBody) -> Any:
    """The body openapi-core makes of `adapter`'s, or its errors as the ApiError they are."""
    result = contract.body_unmarshaller.unmarshal(adapter)
    if result.errors:
        raise request_error(list(result.errors))
    return result.body


def validate_response(
    contract: Contract, adapter: SanicOpenAPIRequest, reply: SanicOpenAPIResponse
) -> None:
    errors = list(contract.openapi.response_validator.iter_errors(adapter, reply))
    if errors:
        details = "; ".join(_describe(e) for e in errors)
        request = f"{adapter.method.upper()} {adapter.path}"
        raise ResponseMismatch(f"{request} -> {reply.status_code}: {details}")


def _describe(error: Exception) -> str:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None) or []
    parts = [f"{list(e.absolute_path)}: {e.message}" for e in schema_errors]
    return f"{error} {parts}" if parts else f"{error} ({cause})"


def check_storable(values: RequestValues) -> None:
    """JSON can carry U+0000 and unpaired surrogates; PostgreSQL text cannot hold them. A query
    decoded with surrogateescape names its bytes that are not UTF-8 the same way."""
    if values.query:
        query = [item for k, v in values.query.items() for item in _unstorable(v, ["query", k])]
        if query:
            raise BadRequest("A query parameter holds text that cannot be stored.", errors=query)
    if values.body is not None:
        body = _unstorable(values.body, ["body"])
        if body:
            raise UnprocessableContent(
                "The request body holds text that cannot be stored.", errors=body
            )


def _unstorable(value: Any, loc: list[Any]) -> list[dict[str, Any]]:
    """Every string of value that PostgreSQL cannot store, in document order; a loop, not a
    recursion, so no nesting overflows the stack."""
    found = []
    pending = [(value, loc)]
    while pending:
        node, where = pending.pop()
        if isinstance(node, str):
            if "\x00" in node or not _encodable(node):
                msg = "must not contain U+0000, an unpaired surrogate or bytes that are not UTF-8"
                found.append({"loc": where, "msg": msg, "type": "unstorable_text"})
        elif isinstance(node, dict):
            pending.extend((item, [*where, key]) for key, item in reversed(node.items()))
        elif isinstance(node, list):
            pending.extend((node[i], [*where, i]) for i in range(len(node) - 1, -1, -1))
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def request_error(errors: list[Any]) -> ApiError:
    """The first class of problem wins: media type, then malformed input, then the schema."""
    for error in errors:
        if isinstance(error, SecurityValidationError):
            return Unauthorized()
    for error in errors:
        if isinstance(error, RequestBodyValidationError) and isinstance(
            error.__cause__, MediaTypeNotFound
        ):
            return unsupported_media_type(error.__cause__.availableMimetypes)
    param_items = [_parameter_item(e) for e in errors if isinstance(e, ParameterValidationError)]
    if param_items:
        return invalid_parameters(param_items)
    for error in errors:
        if isinstance(error, MissingRequestBodyError):
            return missing_body()
        if isinstance(error.__cause__, DeserializeError):
            return malformed_json()
    items = [item for e in errors for item in _schema_items(["body"], e)]
    if items:
        return UnprocessableContent(errors=items)
    log.error("unmapped request validation errors: %r", errors)
    return BadRequest()


# How each class of problem is worded, by both validation paths (fastpath.py words what the
# compiled plan decides alone exactly as request_error words openapi-core's verdict).


def unsupported_media_type(available: list[str]) -> ApiError:
    return UnsupportedMediaType(f"Content-Type must be one of: {', '.join(available)}.")


def invalid_parameters(items: list[dict[str, Any]]) -> ApiError:
    return BadParameters(errors=items)


def missing_body() -> ApiError:
    return UnprocessableContent.at(
        ["body"], "a request body is required", "missing", "A JSON request body is required."
    )


def malformed_json() -> ApiError:
    return BadRequest.at(
        ["body"], "malformed JSON", "json_invalid", "The request body is not valid JSON."
    )


def missing_parameter(loc: list[Any]) -> dict[str, Any]:
    return {"loc": loc, "msg": "parameter required", "type": "missing"}


def uncastable(loc: list[Any]) -> dict[str, Any]:
    """A value that is not of the parameter's type (`limit=abc`: openapi-core's CastError)."""
    return {"loc": loc, "msg": "invalid value", "type": "type_error"}


def empty_query_value(loc: list[Any]) -> dict[str, Any]:
    """`?status=`: openapi-core refuses an empty query value (allowEmptyValue is deprecated)."""
    return {"loc": loc, "msg": "invalid value", "type": "value_error"}


def _parameter_item(error: ParameterValidationError) -> dict[str, Any]:
    loc = [error.location, error.name]
    if isinstance(error, MissingParameterError):
        return missing_parameter(loc)
    items = _schema_items(loc, error)
    if items:
        return items[0]
    if isinstance(error.__cause__, CastError):
        return uncastable(loc)
    return empty_query_value(loc)


def _schema_items(base: list[Any], error: Exception) -> list[dict[str, Any]]:
    schema_errors = getattr(error.__cause__, "schema_errors", None) or []
    return [_item(base, e) for e in schema_errors]


def _item(base: list[Any], error: Any) -> dict[str, Any]:
    """A jsonschema error as {loc, msg, type}, worded by us so input is never echoed back."""
    loc = [*base, *error.absolute_path]
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required" and isinstance(instance, dict):
        missing = [name for name in value if name not in instance]
        named = [name for name in missing if error.message.startswith(f"{name!r} ")]
        return {"loc": loc + (named or missing)[:1], "msg": "field required", "type": "missing"}
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = [name for name in instance if name not in known]
        return {"loc": loc + extra[:1], "msg": "unknown field", "type": "extra_forbidden"}
    said = worded(kind, value, instance, error.schema)
    if said is not None:
        return {"loc": loc + said[0], "msg": said[1], "type": kind}
    return {"loc": loc, "msg": message(kind, value), "type": kind}


def _listed(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def message(kind: str, value: Any) -> str:
    messages = {
        "type": f"must be of type {_listed(value).replace(', ', ' or ')}",
        "minLength": f"must be at least {value} characters",
        "maxLength": f"must be at most {value} characters",
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "minItems": f"must have at least {value} items",
        "maxItems": f"must have at most {value} items",
        "minProperties": "must not be empty",
        "uniqueItems": "must not contain duplicates",
        "enum": f"must be one of: {_listed(value)}",
        "format": f"must be a valid {value}",
        "pattern": _pattern_message(str(value)),
        "const": f"must be {value!r}",
    }
    return messages.get(kind, "is invalid")


# openapi.yaml's trimmed-text pattern: whitespace, a character that is not, at most n more
# characters ending in one that is not, whitespace (1 to n + 2 characters once trimmed).
TRIMMED_TEXT = re.compile(r"\[\\s\\S\]\{0,([0-9]+)\}")


def _pattern_message(pattern: str) -> str:
    found = TRIMMED_TEXT.search(pattern)
    if found is None:
        return "has an invalid format"
    return f"must be 1 to {int(found[1]) + 2} characters after trimming"
