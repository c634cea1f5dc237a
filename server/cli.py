"""todo-api serve | migrate {apply,rollback,list} | purge | vapid"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
from dataclasses import replace
from functools import partial
from typing import Any

from server.config import ConfigError, Settings, load_settings
from server.db import migrations
from server.observability.logs import configure_logging

log = logging.getLogger("todo_api")


def database_url(settings: Settings, *, migrate_embedded: bool) -> str:
    """DATABASE_URL, or the embedded server in DATA_DIR (migrated on start)."""
    if settings.database_url:
        return settings.database_url
    from server.db.embedded import start_embedded

    dsn = start_embedded(settings.data_dir)
    if migrate_embedded:
        applied = migrations.apply(dsn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    return dsn


def worker_app(settings: Settings) -> Any:
    """The app of one worker process: each process logs JSON lines of its own."""
    from server.app import create_app

    configure_logging()
    app = create_app(settings)
    if settings.workers > 1:
        app.after_server_start(_stop_once)
    return app


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _stop_once(app: Any) -> None:
    """The worker stops on the first stop signal and ignores those that follow. A stop signals
    each worker twice: the process group's SIGINT or SIGTERM (a terminal's Ctrl-C, a
    supervisor's stop) and the manager's SIGINT to each worker. Sanic's own handler restores
    the default ones as its stop begins, so the second signal raised KeyboardInterrupt among
    the stop's listeners, which Sanic then began again or gave up: the worker exited with its
    connections and background work left as they were, or waited out the first run's sender
    stop (10 s more before `make run` exited). This handler, put in Sanic's place, leaves the
    signals ignored (and no handler of the loop's for Sanic to restore)."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for signum in STOP_SIGNALS:
            # Between the two calls the default handler stands: a signal then raises its
            # KeyboardInterrupt here, and the swap is made again.
            while True:
                try:
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, signal.SIG_IGN)
                    break
                except KeyboardInterrupt:
                    continue
        app.stop(terminate=False)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)


def serve(settings: Settings) -> None:
    """Serve, with a fresh directory for this run's metrics (removed when it ends)."""
    settings = replace(settings, database_url=database_url(settings, migrate_embedded=True))
    metrics_dir = None
    if settings.metrics_enabled:
        # Before prometheus-client is imported here or in any worker (they inherit it).
        from server.observability.multiproc import MULTIPROC_ENV, metrics_directory

        metrics_dir = metrics_directory(settings.data_dir)
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
    try:
        _serve(settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: Settings) -> None:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server.system.transport import GuardedProtocol

    loader = AppLoader(factory=partial(worker_app, settings))
    app = loader.load()
    single = settings.workers == 1
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        single_process=single,
        protocol=GuardedProtocol,
        access_log=False,
        motd=False,
    )
    log.info(
        "serving on http://%s:%s (docs at /docs, %d worker(s))",
        settings.host,
        settings.port,
        settings.workers,
    )
    if single:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


def migrate(settings: Settings, action: str, count: int | None) -> None:
    dsn = database_url(settings, migrate_embedded=False)
    if action == "apply":
        applied = migrations.apply(dsn)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    elif action == "rollback":
        rolled = migrations.rollback(dsn, count)
        print("rolled back: " + (", ".join(rolled) if rolled else "nothing"))
    else:
        for migration_id, done in migrations.status(dsn):
            print(f"{'applied' if done else 'pending'}  {migration_id}")


def purge(settings: Settings) -> None:
    """One round of every purge, now (the service also purges by itself)."""
    import asyncio

    from server.db.pool import open_database
    from server.db.queries import load_queries
    from server.system.purger import purge as purge_all

    async def once() -> dict[str, int]:
        db = await open_database(settings, database_url(settings, migrate_embedded=False))
        try:
            return await purge_all(db, load_queries(), settings)
        finally:
            await db.close()

    for name, count in asyncio.run(once()).items():
        print(f"{name}: {count}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="todo-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API on HOST:PORT with WORKERS processes")
    migrate_parser = commands.add_parser("migrate", help="apply, roll back or list migrations")
    migrate_parser.add_argument("action", choices=["apply", "rollback", "list"])
    group = migrate_parser.add_mutually_exclusive_group()
    group.add_argument("--count", type=int, default=1, help="migrations to roll back (1)")
    group.add_argument("--all", action="store_true", help="roll back every migration")
    commands.add_parser("purge", help="delete expired tokens, old failures and keys now")
    commands.add_parser("vapid", help="print a new VAPID private key (for VAPID_PRIVATE_KEY)")
    args = parser.parse_args(argv)
    if args.command == "vapid":  # needs no settings: a key for the settings to come
        from server.push.keys import new_private_key

        print(new_private_key())
        return 0
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"todo-api: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        serve(settings)
    elif args.command == "purge":
        purge(settings)
    else:
        migrate(settings, args.action, None if args.all else args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
