"""A query parameter the operation does not declare is a 400 naming it (contract 1.11.0): a
typo such as `?statuss=completed` would otherwise be ignored and answer every task, where an
unknown body field has always been a 422. Both validation paths ask here first (fastpath.py,
and validation.py before openapi-core), so their answers are the same.

The work is bounded by what is reported, not by what is sent: at most MAX_NAMED names get an
error item, and only names of at most MAX_SUGGESTED characters are compared with the declared
ones for a suggestion (a request head is at most 8 KiB, so a query holds at most a few
thousand names)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from server.errors import BadParameters

MAX_NAMED = 10
MAX_SUGGESTED = 64
SURROGATE = re.compile("[\ud800-\udfff]")  # bytes that were not UTF-8 (adapters.query_args)


def check_query_names(given: Collection[str], declared: frozenset[str]) -> None:
    """The 400 for the names of `given` (each once) that `declared` does not hold."""
    if declared.issuperset(given):
        return
    unknown = [name for name in given if name not in declared]
    shown = [SURROGATE.sub("\ufffd", name) for name in unknown[:MAX_NAMED]]
    items = [_item(name, declared) for name in shown]
    listed = ", ".join(f"'{name}'" for name in shown)
    more = f" and {len(unknown) - len(shown)} more" if len(unknown) > len(shown) else ""
    takes = f"it takes only: {', '.join(sorted(declared))}" if declared else "it takes none"
    plural = "s" if len(unknown) > 1 else ""
    detail = f"Unknown query parameter{plural} {listed}{more}: {takes}."
    raise BadParameters(detail, errors=items)


def _item(name: str, declared: frozenset[str]) -> dict[str, Any]:
    msg = "is not a query parameter of this operation"
    meant = _meant(name, declared)
    if meant is not None:
        msg += f"; did you mean '{meant}'?"
    return {"loc": ["query", name], "msg": msg, "type": "extra_forbidden"}


def _meant(name: str, declared: frozenset[str]) -> str | None:
    """The declared name `name` differs from only by case, else the closest one by spelling."""
    if len(name) > MAX_SUGGESTED:
        return None
    folded = name.casefold()
    for candidate in sorted(declared):
        if candidate.casefold() == folded:
            return candidate
    close = difflib.get_close_matches(folded, sorted(declared), n=1, cutoff=0.75)
    return close[0] if close else None
