"""The errors of a request the compiled plan already knows to be invalid, worded as
server/contract/validation.py words openapi-core's, by the fast engine that found them.

Handing such a request to openapi-core would re-run every check in Python (every `pattern` on
every string, however long) only to word the answer: the answer would cost more than the
request. The engines judge some formats differently: a value the fast engine finds malformed
is judged again by openapi-core's own format checker (one cheap check of one string). A body
nested too deeply for the fast engine to describe is left to openapi-core, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openapi_schema_validator import oas31_format_checker

from server.contract.loading import FORMAT_VALIDATORS
from server.contract.validation import message
from server.contract.wording import schema_at, worded

KEYWORD_VALUES = {"limit", "pattern", "options", "types", "format"}
WORDED = {"oneOf", "not", "format"}  # wording.py says what to send instead


class Unworded(Exception):
    """The fast engine cannot say what openapi-core would: openapi-core decides."""


def rejection_items(
    validator: Any, value: Any, base: list[Any], document: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """{loc, msg, type} for each schema error of `value`, located under `base`; `document`
    is the contract the validator's schema comes from."""
    try:
        errors = list(validator.iter_errors(value))
    except ValueError:  # "Recursion limit reached"
        raise Unworded from None
    items = []
    for error in errors:
        keyword = str(error.schema_path[-1]) if error.schema_path else ""
        details = error.kind.as_dict()
        if keyword == "format" and _openapi_core_accepts(error.instance, details["format"]):
            continue
        loc = [*base, *error.instance_path]
        if keyword in WORDED:
            schema = schema_at(document, error.schema_path)
            given = details.get("schema", schema.get(keyword) if schema else None)
            said = worded(keyword, details.get("format", given), error.instance, schema)
            if said is not None:
                items.append({"loc": [*loc, *said[0]], "msg": said[1], "type": keyword})
                continue
        if keyword == "required":
            items.append(
                {"loc": [*loc, details["property"]], "msg": "field required", "type": "missing"}
            )
        elif keyword == "additionalProperties":
            extra = details["unexpected"][:1]
            items.append({"loc": [*loc, *extra], "msg": "unknown field", "type": "extra_forbidden"})
        else:
            found = [v for k, v in details.items() if k in KEYWORD_VALUES]
            if keyword == "type" and isinstance(found[0], list):  # as the contract lists them
                found = [sorted(found[0], key=lambda kind: kind == "null")]
            items.append(
                {"loc": loc, "msg": message(keyword, found[0] if found else None), "type": keyword}
            )
    return items


def _openapi_core_accepts(value: Any, format_name: str) -> bool:
    """openapi-core's verdict on one formatted value: its checker, with the contract's own
    validators (server/contract/loading.py) in place of some of its formats."""
    own = FORMAT_VALIDATORS.get(format_name)
    return bool(own(value)) if own else oas31_format_checker.conforms(value, format_name)
