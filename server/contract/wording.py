"""What to send instead, for the schema errors whose keyword alone would not say it (both
validation paths word them here: rejections.py for the compiled plan, validation.py for
openapi-core):
- `oneOf`: the shapes the value may take, each with the contract's example of its fields;
- `not` with `required`: the contract's own `description` of the rule, at the last field
  named (a task's `due_date` and `due_on`: at `due_on`, where the service's check answers);
- `format: date-time` given a date alone: a date-time is needed, and what the field's schema
  says to do with a date (`x-date-alone`: a task's `due_date` points at `due_on`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_ALONE = "must be a date-time such as 2025-01-24T17:00:00Z, not a date alone"
NOT_ALLOWED = "is not allowed"


def worded(
    kind: str, value: Any, instance: Any, schema: Mapping[str, Any] | None
) -> tuple[list[str], str] | None:
    """(where under the value's location, message) for the keywords above, else None.
    `value` is the keyword's value in the contract, `schema` the schema holding it."""
    if kind == "oneOf" and isinstance(value, list):
        return [], "must be one of these shapes: " + " or ".join(map(_shape, value))
    if kind == "not" and isinstance(value, Mapping):
        named = [str(name) for name in value.get("required", [])[-1:]]
        return named, str(value.get("description", NOT_ALLOWED))
    if kind == "format" and value == "date-time" and _a_date(instance):
        hint = (schema or {}).get("x-date-alone")
        return [], f"{DATE_ALONE}; {hint}" if hint else DATE_ALONE
    return None


def _a_date(instance: Any) -> bool:
    return isinstance(instance, str) and FULL_DATE.fullmatch(instance) is not None


def _shape(alternative: Any) -> str:
    """`{"at": "2025-01-24T08:00:00Z"}` for an object whose required fields show examples."""
    if not isinstance(alternative, Mapping):
        return "a value"
    if "$ref" in alternative:
        return "a " + str(alternative["$ref"]).rsplit("/", 1)[-1]
    required = alternative.get("required")
    properties = alternative.get("properties", {})
    if alternative.get("type") == "object" and required:
        fields = ", ".join(f'"{name}": {_sample(properties.get(name, {}))}' for name in required)
        return "{" + fields + "}"
    kinds = alternative.get("type", "value")
    return " or ".join(kinds) if isinstance(kinds, list) else str(kinds)


def _sample(schema: Mapping[str, Any]) -> str:
    if "example" in schema:
        example = schema["example"]
        return f'"{example}"' if isinstance(example, str) else str(example)
    return f"<{schema.get('format') or schema.get('type', 'value')}>"


def schema_at(document: Mapping[str, Any], path: list[Any]) -> Mapping[str, Any] | None:
    """The schema holding the keyword at `path` (a fast-engine error's schema_path: inside the
    contract's components, or inside the schema its validator was compiled from, which is not
    kept: None)."""
    if not path or path[0] != "components":
        return None
    node: Any = document
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, Mapping) else None
