"""The named queries of sql/, with the access token's account check embedded where asked."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosql
from aiosql.query_loader import QueryLoader
from aiosql.types import QueryDatum

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"
# The access token's account check (sql/users.sql, token_account_ok): its condition, and the
# parameters it reads. Task statements embed both, so each of them checks the account itself,
# in its own round trip, and a condition added to the check holds for all of them.
ACCOUNT_CHECK = re.compile(
    r"^-- name: token_account_ok\((?P<params>[\w, ]*)\)\$\n"
    r"(?:--[^\n]*\n)*SELECT (?P<condition>.*?);$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class AccountCheck:
    condition: str  # a boolean SQL expression with :name parameters
    params: tuple[str, ...]

    @classmethod
    def read(cls) -> AccountCheck:
        found = ACCOUNT_CHECK.search((SQL_DIR / "users.sql").read_text())
        if found is None:
            raise RuntimeError("sql/users.sql has no token_account_ok block")
        params = tuple(p.strip() for p in found["params"].split(","))
        return cls(" ".join(found["condition"].split()), params)

    def embed(self, sql: str) -> str:
        return sql.replace("{token}", ", ".join(self.params)).replace(
            "{token_account_ok}", self.condition
        )

    def numbered(self, placeholders: Mapping[str, str]) -> str:
        """The condition with each :name as its $n, for statements composed in Python."""
        return re.sub(r"(?<!:):(\w+)", lambda m: placeholders[m[1]], self.condition)


@functools.cache
def account_check() -> AccountCheck:
    return AccountCheck.read()


class _Loader(QueryLoader):
    """aiosql's loader, with the account check embedded where a statement asks for it."""

    def load_query_data_from_file(
        self, path: Path, ns_parts: list[str] | None = None, encoding: str | None = None
    ) -> list[QueryDatum]:
        sql = account_check().embed(path.read_text(encoding=encoding))
        return self.load_query_data_from_sql(sql, ns_parts or [], path)


def load_queries(path: Path = SQL_DIR) -> Any:
    """Every `-- name:` block of sql/*.sql, as async functions taking a connection or Database."""
    return aiosql.from_path(path, "asyncpg", loader_cls=_Loader)
