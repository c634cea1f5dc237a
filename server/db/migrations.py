"""yoyo migrations of migrations/: apply, roll back, list, and what /ready compares against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoyo import get_backend, read_migrations

from server.resources import MIGRATIONS_DIR


def yoyo_url(dsn: str) -> str:
    """yoyo needs a synchronous driver: postgresql://... -> postgresql+psycopg://..."""
    scheme, sep, rest = dsn.partition("://")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    return f"{scheme}{sep}{rest}"


def migration_ids(path: Path = MIGRATIONS_DIR) -> frozenset[str]:
    return frozenset(m.id for m in read_migrations(str(path)))


def _backend(dsn: str) -> Any:
    return get_backend(yoyo_url(dsn), migration_table="_yoyo_migration")


def apply(dsn: str) -> list[str]:
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        todo = backend.to_apply(migrations)
        backend.apply_migrations(todo)
    return [m.id for m in todo]


def rollback(dsn: str, count: int | None = 1) -> list[str]:
    """Roll back the newest `count` applied migrations (all of them when count is None)."""
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        applied = backend.to_rollback(migrations)
        chosen = applied if count is None else applied[:count]
        backend.rollback_migrations(chosen)
    return [m.id for m in chosen]


def status(dsn: str) -> list[tuple[str, bool]]:
    backend = _backend(dsn)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    return [(m.id, backend.is_applied(m)) for m in migrations]
