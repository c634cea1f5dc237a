"""The typed surface of the named queries (server/db/queries.py) names exactly the queries of
sql/, each with the parameters its `-- name:` line declares, so mypy's checks hold at run time."""

from __future__ import annotations

import inspect
import re

from server.db.queries import SQL_DIR, AccountCheck, Queries, load_queries

NAME_LINE = re.compile(r"^-- name: (\w+)\(([^)]*)\)", re.MULTILINE)


def _declared() -> dict[str, list[str]]:
    """As the queries load: {token} stands for the account check's parameters."""
    declared: dict[str, list[str]] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        for name, params in NAME_LINE.findall(AccountCheck.read().embed(path.read_text())):
            declared[name] = [p.strip() for p in params.split(",") if p.strip()]
    return declared


def _typed() -> dict[str, list[str]]:
    return {
        name: [p for p in inspect.signature(fn).parameters if p not in ("self", "conn")]
        for name, fn in vars(Queries).items()
        if inspect.isfunction(fn) and not name.startswith("_")
    }


def test_typed_surface_names_every_query_with_its_parameters() -> None:
    assert _typed() == _declared()


def test_aiosql_builds_every_query_of_the_typed_surface() -> None:
    queries = load_queries()
    assert set(_typed()) <= set(dir(queries))
