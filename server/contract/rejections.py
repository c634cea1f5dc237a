"""The errors of a request the compiled plan already knows to be invalid, worded as
server/contract/validation.py words openapi-core's, by the fast engine that found them.

Handing such a request to openapi-core would re-run every check in Python (every `pattern` on
every string, however long) only to word the answer: the answer would cost more than the
request. Format errors are the exception (the engines judge some formats differently): there
the plan stays unsure and openapi-core decides, as before.
"""

from __future__ import annotations

from typing import Any

from server.contract.validation import message

KEYWORD_VALUES = {"limit", "pattern", "options", "types", "format"}


class Unworded(Exception):
    """The fast engine's errors include one it cannot word as openapi-core would."""


def rejection_items(validator: Any, value: Any, base: list[Any]) -> list[dict[str, Any]]:
    """{loc, msg, type} for each schema error of `value`, located under `base`."""
    items = []
    for error in validator.iter_errors(value):
        keyword = str(error.schema_path[-1]) if error.schema_path else ""
        if keyword == "format":
            raise Unworded
        details = error.kind.as_dict()
        loc = [*base, *error.instance_path]
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
