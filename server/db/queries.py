"""The named queries of sql/ as mypy sees them: a misspelled query or parameter name is a type
error. aiosql builds the functions at run time; test_queries checks that this surface and sql/
name the same queries with the same parameters.

Each takes an Executor (server/db/executor.py: the pool, one statement on a connection of its
own; or a connection in a transaction), or the pool or a connection themselves. `^` answers a
row or None, `$` a value or None, `!` asyncpg's status string, and a query without a suffix an
async iterator of rows."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypedDict, cast

import aiosql
import asyncpg
from aiosql.adapters.asyncpg import AsyncPGAdapter

from server.db.executor import Executor, Row
from server.db.pool import Database
from server.resources import SQL_DIR

Conn: TypeAlias = Executor | Database | asyncpg.Connection
# A task's columns, as every task query returns them (the Task body's fields, in its order).
LIST_COLUMNS = "id, user_id, name, color, position, is_inbox, created_at, updated_at, version"
TASK_COLUMNS = (
    "id, user_id, title, description, is_completed, completed_at, priority, due_date, tags,"
    " list_id, parent_id, position, created_at, updated_at, version, due_on, recurrence,"
    " last_completed_at, reminders, created_by, assignee_id, completed_by"
)
# A comment's columns, as the contract's Comment has them, read from a row `c` of comments.
COMMENT_COLUMNS = (
    "c.id, c.task_id, (SELECT jsonb_build_object('id', u.id, 'name', u.name) FROM users AS u"
    " WHERE u.id = c.author_id) AS author, c.body, c.created_at, c.updated_at, c.version"
)
# An account's columns, as every query answering a User returns them.
USER_COLUMNS = (
    "id, email, name, timezone, email_verified,"
    " jsonb_build_object('email', notify_email, 'push', notify_push) AS notify,"
    " created_at, updated_at"
)


class TokenParams(TypedDict):
    """The parameters of the access token's account check (token_account_ok), which every
    statement embedding it takes too (where its name line says {token})."""

    user_id: str
    session_id: str  # a login family's id, or a personal access token's
    token_hash: bytes | None  # a personal access token's hash; None for a session


class AccessParams(TokenParams):
    """A statement's parameters that check list access as well (issue 26): the account check's
    and the operation's x-required-role, which the statement reads as :required_role (its name
    line's {token} then names it too)."""

    required_role: str | None


class Queries(Protocol):
    # users.sql
    async def create_user(
        self, conn: Conn, *, email: str, name: str, password_hash: str
    ) -> Row: ...
    async def get_user(self, conn: Conn, *, id: str) -> Row: ...
    async def get_login(self, conn: Conn, *, email: str) -> Row: ...
    async def get_credentials(self, conn: Conn, *, id: str) -> Row: ...
    async def update_user(
        self,
        conn: Conn,
        *,
        id: str,
        name: str | None,
        timezone: str | None,
        notify_email: bool | None,
        notify_push: bool | None,
    ) -> Row: ...
    def time_zones(self, conn: Conn) -> AsyncIterator[Row]: ...
    async def replace_password_hash(
        self, conn: Conn, *, id: str, old_hash: str, new_hash: str
    ) -> str | None: ...
    async def delete_user(self, conn: Conn, *, id: str, password_hash: str) -> str | None: ...
    async def lock_user(self, conn: Conn, *, id: str) -> str | None: ...

    # account_mail.sql
    async def lock_reset_limits(self, conn: Conn, *, email: str, client: str) -> str: ...
    async def reset_retry_after(
        self, conn: Conn, *, client: str, per_client: int
    ) -> int | None: ...
    async def request_password_reset(
        self,
        conn: Conn,
        *,
        email: str,
        client: str,
        token_hash: bytes,
        token: str,
        ttl_seconds: int,
        per_address: int,
    ) -> bool: ...
    async def account_mail_retry_after(
        self, conn: Conn, *, user_id: str, kind: str, per_account: int
    ) -> int | None: ...
    async def mail_verification(
        self,
        conn: Conn,
        *,
        user_id: str,
        client: str,
        token_hash: bytes,
        token: str,
        ttl_seconds: int,
    ) -> bool: ...
    async def mail_email_change(
        self,
        conn: Conn,
        *,
        user_id: str,
        new_email: str,
        client: str,
        token_hash: bytes,
        token: str,
        ttl_seconds: int,
    ) -> bool: ...
    async def email_in_use(self, conn: Conn, *, email: str, user_id: str) -> str | None: ...
    async def account_token_owner(
        self, conn: Conn, *, token_hash: bytes, purpose: str
    ) -> str | None: ...
    async def use_account_token(self, conn: Conn, *, token_hash: bytes, purpose: str) -> Row: ...
    async def reset_password(
        self, conn: Conn, *, id: str, email: str, password_hash: str
    ) -> str | None: ...
    async def mark_email_verified(self, conn: Conn, *, id: str, email: str) -> Row: ...
    async def move_email(self, conn: Conn, *, id: str, email: str) -> Row: ...
    async def purge_account_tokens(self, conn: Conn) -> int: ...
    async def purge_mail_requests(self, conn: Conn) -> int: ...

    # outbox.sql
    async def take_outbox_lease(
        self, conn: Conn, *, name: str, holder: str, lease_seconds: int
    ) -> bool | None: ...
    async def release_outbox_lease(self, conn: Conn, *, name: str, holder: str) -> str: ...
    def claim_outbox(
        self, conn: Conn, *, channel: str, batch: int, claim_seconds: int
    ) -> AsyncIterator[Row]: ...
    async def mark_outbox_sent(self, conn: Conn, *, id: int) -> str: ...
    async def mark_outbox_retry(
        self, conn: Conn, *, id: int, error: str, delay_seconds: float, give_up_seconds: int
    ) -> bool: ...
    async def mark_outbox_failed(self, conn: Conn, *, id: int, error: str) -> str: ...
    async def release_outbox_claims(self, conn: Conn, *, ids: list[int]) -> str: ...
    async def outbox_oldest_unsent(self, conn: Conn) -> float | None: ...
    async def purge_outbox(self, conn: Conn) -> int: ...

    # push.sql
    async def count_push_subscriptions(self, conn: Conn, *, user_id: str) -> int: ...
    async def save_push_subscription(
        self, conn: Conn, *, user_id: str, endpoint: str, p256dh: str, auth: str
    ) -> Row: ...
    def list_push_subscriptions(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    async def delete_push_subscription(
        self, conn: Conn, *, user_id: str, id: str
    ) -> str | None: ...
    async def push_target(self, conn: Conn, *, id: str) -> Row: ...
    async def drop_push_subscription(self, conn: Conn, *, id: str, endpoint: str) -> str: ...

    # webhooks.sql
    async def count_webhooks(self, conn: Conn, *, user_id: str) -> int: ...
    async def create_webhook(
        self, conn: Conn, *, user_id: str, url: str, events: list[str], secret: str
    ) -> Row: ...
    def webhook_secrets_to_reseal(
        self, conn: Conn, *, sealed_prefix: str, after: str, limit: int
    ) -> AsyncIterator[Row]: ...
    async def reseal_webhook_secret(
        self, conn: Conn, *, id: str, stored: str, sealed: str
    ) -> str: ...
    def list_webhooks(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    async def get_webhook(self, conn: Conn, *, user_id: str, id: str) -> Row | None: ...
    async def enable_webhook(
        self, conn: Conn, *, user_id: str, id: str, enabled: bool
    ) -> Row | None: ...
    async def delete_webhook(self, conn: Conn, *, user_id: str, id: str) -> str | None: ...
    def list_webhook_deliveries(
        self, conn: Conn, *, user_id: str, webhook_id: str, limit: int
    ) -> AsyncIterator[Row]: ...
    async def lock_webhook(self, conn: Conn, *, user_id: str, id: str) -> Row | None: ...
    async def count_manual_deliveries(self, conn: Conn, *, webhook_id: str) -> int: ...
    async def queue_webhook_copy(
        self, conn: Conn, *, user_id: str, webhook_id: str, id: int
    ) -> Row | None: ...
    async def queue_webhook_ping(
        self, conn: Conn, *, user_id: str, webhook_id: str, payload: Mapping[str, Any]
    ) -> Row | None: ...
    def webhooks_behind(self, conn: Conn, *, limit: int) -> AsyncIterator[Row]: ...
    async def lock_webhook_cursor(self, conn: Conn, *, id: str) -> Row | None: ...
    async def queue_webhook_deliveries(
        self, conn: Conn, *, webhook_id: str, payloads: list[dict[str, Any]], cursor: int
    ) -> str: ...
    def claim_webhook_runs(
        self, conn: Conn, *, webhooks: int, run: int, claim_seconds: int
    ) -> AsyncIterator[Row]: ...
    async def mark_webhook_sent(
        self, conn: Conn, *, id: int, response_code: int | None, excerpt: str, next_id: int | None
    ) -> bool: ...
    async def mark_webhook_retry(
        self,
        conn: Conn,
        *,
        id: int,
        response_code: int | None,
        error: str,
        delay_seconds: float,
        give_up_seconds: int,
        mail: bool,
    ) -> bool: ...

    # reminders.sql
    def list_reminders(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        window_from: datetime,
        window_to: datetime,
        after_fire_at: str | None,
        after_task_id: str | None,
        limit: int,
    ) -> AsyncIterator[Row]: ...
    async def take_reminder_lease(self, conn: Conn, *, holder: str, lease_seconds: int) -> Any: ...
    async def release_reminder_lease(self, conn: Conn, *, holder: str) -> str: ...
    async def fire_reminders(
        self, conn: Conn, *, late_seconds: int, batch: int, mail: bool, push: bool
    ) -> Row: ...
    async def purge_fired_reminders(self, conn: Conn) -> int: ...

    # tasks.sql
    async def create_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str | None,
        parent_id: str | None,
        title: str,
        description: str | None,
        priority: str,
        due_date: datetime | None,
        due_on: date | None,
        tags: list[str],
        is_completed: bool,
        recurrence: dict[str, str] | None,
        reminders: list[dict[str, str]],
        assignee_id: str | None,
        quota: int,
        alone: bool,
    ) -> Row: ...
    async def get_task(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, id: str
    ) -> Row: ...
    def batch_owners(
        self,
        conn: Conn,
        *,
        user_id: str,
        required_role: str | None,
        ids: list[str],
        list_ids: list[str],
    ) -> AsyncIterator[Row]: ...
    async def lock_batch_lists(
        self,
        conn: Conn,
        *,
        user_id: str,
        required_role: str | None,
        ids: list[str],
        list_ids: list[str],
    ) -> None: ...
    def lock_batch_tasks(
        self,
        conn: Conn,
        *,
        user_id: str,
        required_role: str | None,
        ids: list[str],
        trees: list[str],
    ) -> AsyncIterator[Row]: ...
    async def task_version(self, conn: Conn, *, user_id: str, id: str) -> int | None: ...
    async def update_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
        versions: list[int] | None,
        set_assignee: bool,
        assignee_id: str | None,
        title: str | None,
        set_description: bool,
        description: str | None,
        priority: str | None,
        set_due_date: bool,
        due_date: datetime | None,
        set_due_on: bool,
        due_on: date | None,
        tags: list[str] | None,
        is_completed: bool | None,
        toggle: bool,
        set_recurrence: bool,
        recurrence: dict[str, str] | None,
        reminders: list[dict[str, str]] | None,
        advance: bool | None,
    ) -> Row: ...
    async def completing_task(self, conn: Conn, *, user_id: str, id: str) -> Row: ...
    async def delete_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
        versions: list[int] | None,
    ) -> Row: ...
    async def get_stats(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        list_id: str | None,
        now: datetime,
    ) -> Row: ...

    # placement.sql
    async def task_owner(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
    ) -> Row: ...
    async def lock_owner_placement(self, conn: Conn, *, owner_id: str) -> str: ...
    async def task_placement(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
    ) -> Row: ...
    async def placement_facts(
        self,
        conn: Conn,
        *,
        user_id: str,
        owner_id: str | None,
        id: str | None,
        parent_id: str | None,
        list_id: str | None,
    ) -> Row: ...
    async def task_neighbours(
        self,
        conn: Conn,
        *,
        user_id: str,
        list_id: str,
        parent_key: str,
        id: str,
        after_id: str | None,
    ) -> Row: ...
    def task_positions(
        self, conn: Conn, *, user_id: str, list_id: str, parent_key: str, id: str
    ) -> AsyncIterator[Row]: ...
    async def park_tasks(self, conn: Conn, *, user_id: str, ids: list[str]) -> str: ...
    async def renumber_tasks(
        self, conn: Conn, *, user_id: str, ids: list[str], positions: list[str]
    ) -> str: ...
    async def move_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        id: str,
        list_id: str,
        parent_id: str | None,
        position: str | None,
    ) -> Row: ...

    # lists.sql
    async def lock_placement(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None
    ) -> Row: ...
    async def next_position(self, conn: Conn) -> str: ...
    def list_lists(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None
    ) -> AsyncIterator[Row]: ...
    async def create_list(
        self, conn: Conn, *, user_id: str, name: str, color: str | None, quota: int
    ) -> Row: ...
    async def get_list(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, id: str
    ) -> Row: ...
    async def update_list(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
        versions: list[int] | None,
        name: str | None,
        set_color: bool,
        color: str | None,
    ) -> Row: ...
    async def delete_list(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
        versions: list[int] | None,
    ) -> Row: ...
    async def list_state(self, conn: Conn, *, user_id: str, id: str) -> Row: ...
    async def move_list(
        self, conn: Conn, *, user_id: str, id: str, position: str | None
    ) -> Row: ...
    async def list_neighbours(
        self, conn: Conn, *, user_id: str, id: str, after_id: str | None
    ) -> Row: ...
    def list_positions(self, conn: Conn, *, user_id: str, id: str) -> AsyncIterator[Row]: ...
    async def park_lists(self, conn: Conn, *, user_id: str, ids: list[str]) -> str: ...
    async def renumber_lists(
        self, conn: Conn, *, user_id: str, ids: list[str], positions: list[str]
    ) -> str: ...

    # members.sql
    def list_members(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
    ) -> AsyncIterator[Row]: ...
    async def set_member_role(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
        member_id: str,
        role: str,
    ) -> Row: ...
    async def remove_member(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
        member_id: str,
    ) -> Row: ...
    async def memberships_held(self, conn: Conn, *, member_id: str, list_ids: list[str]) -> int: ...

    # invitations.sql
    async def invitation_list(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
    ) -> Row: ...
    async def expire_invitations(self, conn: Conn, *, list_id: str, email: str) -> str: ...
    async def create_invitation(
        self,
        conn: Conn,
        *,
        owner_id: str,
        list_id: str,
        email: str,
        role: str,
        ttl_seconds: int,
        client: str,
        member_limit: int,
    ) -> Row: ...
    def list_invitations(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
        limit: int,
    ) -> AsyncIterator[Row]: ...
    async def revoke_invitation(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str,
        id: str,
    ) -> Row: ...
    async def list_invitation_state(self, conn: Conn, *, list_id: str, id: str) -> str | None: ...
    def my_invitations(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, limit: int
    ) -> AsyncIterator[Row]: ...
    async def addressed_invitation(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, id: str
    ) -> Row: ...
    async def lock_list_joins(self, conn: Conn, *, owner_id: str, list_id: str) -> str | None: ...
    async def claim_invitation(self, conn: Conn, *, user_id: str, id: str) -> Row | None: ...
    async def join_list(
        self, conn: Conn, *, id: str, member_id: str, member_limit: int
    ) -> Row | None: ...
    async def decline_invitation(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, id: str
    ) -> Row: ...
    async def addressed_invitation_state(
        self, conn: Conn, *, user_id: str, id: str
    ) -> str | None: ...

    # idempotency.sql
    async def claim_idempotency_key(
        self, conn: Conn, *, user_id: str, key: str, request_hash: bytes
    ) -> Row: ...
    async def get_idempotency_key(self, conn: Conn, *, user_id: str, key: str) -> Row: ...
    async def record_idempotent_response(
        self,
        conn: Conn,
        *,
        user_id: str,
        key: str,
        task_id: str | None,
        response: Mapping[str, Any],
    ) -> str: ...

    # logins.sql
    async def lock_login_limits(self, conn: Conn, *, email: str, client: str) -> str: ...
    async def login_retry_after(
        self,
        conn: Conn,
        *,
        email: str,
        client: str,
        window_seconds: int,
        per_email_client: int,
        per_email: int,
        per_client: int,
    ) -> int | None: ...
    async def record_login_failure(self, conn: Conn, *, email: str, client: str) -> str: ...
    async def clear_login_failures(self, conn: Conn, *, email: str, client: str) -> str: ...
    async def lock_signups(self, conn: Conn, *, client: str) -> str: ...
    async def signup_retry_after(
        self, conn: Conn, *, client: str, per_window: int, window_seconds: int
    ) -> int | None: ...
    async def record_signup(self, conn: Conn, *, client: str) -> str: ...

    # tokens.sql
    async def token_account_ok(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None
    ) -> bool | None: ...
    async def insert_login_family(
        self, conn: Conn, *, id: str, user_id: str, ttl_seconds: int, user_agent: str | None
    ) -> str: ...
    async def insert_refresh_token(
        self, conn: Conn, *, user_id: str, family_id: str, token_hash: bytes, ttl_seconds: int
    ) -> str: ...
    async def refresh_token_owner(self, conn: Conn, *, token_hash: bytes) -> Row: ...
    async def lock_refresh_token(
        self, conn: Conn, *, token_hash: bytes, grace_seconds: int
    ) -> Row: ...
    async def mark_rotated(self, conn: Conn, *, id: str) -> str: ...
    async def touch_family(self, conn: Conn, *, id: str, user_agent: str | None) -> str: ...
    async def end_family(self, conn: Conn, *, user_id: str, id: str) -> str | None: ...
    async def end_user_credentials(self, conn: Conn, *, user_id: str) -> str: ...
    def list_sessions(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...

    # feeds.sql
    async def create_calendar_feed(
        self, conn: Conn, *, user_id: str, list_id: str | None, token_hash: bytes, quota: int
    ) -> Row: ...
    async def calendar_feed_list_role(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None, list_id: str
    ) -> Row: ...
    def list_calendar_feeds(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    async def delete_calendar_feed(self, conn: Conn, *, user_id: str, id: str) -> str | None: ...
    async def calendar_feed_state(self, conn: Conn, *, token_hash: bytes) -> Row: ...
    def calendar_feed_tasks(
        self, conn: Conn, *, user_id: str, list_id: str | None, limit: int
    ) -> AsyncIterator[Row]: ...

    # transfer.sql
    def export_lists(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    def export_tasks(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    def export_comments(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    async def import_room(self, conn: Conn, *, user_id: str) -> Row: ...
    async def import_positions(self, conn: Conn, *, count: int) -> list[str]: ...
    async def import_lists(
        self, conn: Conn, *, user_id: str, lists: list[dict[str, Any]]
    ) -> str: ...
    async def import_tasks(
        self, conn: Conn, *, user_id: str, tasks: list[dict[str, Any]]
    ) -> str: ...
    async def import_trash(
        self, conn: Conn, *, user_id: str, tasks: list[dict[str, Any]]
    ) -> int: ...
    async def import_comments(
        self, conn: Conn, *, user_id: str, comments: list[dict[str, Any]]
    ) -> int: ...
    async def hide_imported_trash(self, conn: Conn, *, user_id: str, ids: list[str]) -> str: ...
    async def stamp_each_statement(self, conn: Conn) -> str: ...

    # purge.sql
    async def take_purge_lease(
        self, conn: Conn, *, holder: str, lease_seconds: int
    ) -> bool | None: ...
    async def release_purge_lease(self, conn: Conn, *, holder: str) -> str: ...
    async def purge_refresh_tokens(self, conn: Conn) -> int: ...
    async def purge_login_families(self, conn: Conn, *, access_seconds: int) -> int: ...
    async def purge_login_failures(self, conn: Conn, *, window_seconds: int) -> int: ...
    async def purge_signup_attempts(self, conn: Conn, *, window_seconds: int) -> int: ...
    async def purge_idempotency_keys(self, conn: Conn) -> int: ...
    async def purge_trash(self, conn: Conn, *, days: int) -> int: ...
    async def purge_tombstones(self, conn: Conn, *, days: int) -> int: ...

    # trash.sql
    def trash_page(
        self,
        conn: Conn,
        *,
        user_id: str,
        role: str | None,
        limit: int,
        offset: int,
        after_deleted_at: datetime | None,
        after_id: str | None,
    ) -> AsyncIterator[Row]: ...
    async def trash_total(self, conn: Conn, *, user_id: str, role: str | None) -> int: ...
    async def trashed_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        id: str,
    ) -> Row: ...
    async def lock_task_count(self, conn: Conn, *, user_id: str) -> int | None: ...
    async def restore_home(self, conn: Conn, *, user_id: str, id: str) -> Row: ...
    async def restore_task(
        self, conn: Conn, *, user_id: str, id: str, list_id: str, parent_id: str | None
    ) -> Row: ...
    async def purge_trashed(self, conn: Conn, *, user_id: str, id: str) -> int: ...
    async def empty_trash(self, conn: Conn, *, user_id: str) -> int: ...
    async def clear_completed(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        list_id: str | None,
    ) -> Row: ...
    async def trashed_now(self, conn: Conn, *, user_id: str) -> int: ...

    # comments.sql
    def list_comments(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        task_id: str,
        after_created_at: datetime | None,
        after_id: str | None,
        limit: int,
    ) -> AsyncIterator[Row]: ...
    async def lock_comment_task(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        task_id: str,
    ) -> Row: ...
    async def create_comment(
        self, conn: Conn, *, owner_id: str, task_id: str, author_id: str, body: str, quota: int
    ) -> Row: ...
    async def created_comment_state(
        self, conn: Conn, *, user_id: str, task_id: str, id: str
    ) -> Row: ...
    async def update_comment(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        task_id: str,
        id: str,
        versions: list[int] | None,
        body: str,
    ) -> Row: ...
    async def delete_comment(
        self,
        conn: Conn,
        *,
        user_id: str,
        session_id: str,
        token_hash: bytes | None,
        required_role: str | None,
        task_id: str,
        id: str,
    ) -> Row: ...

    # changes.sql
    async def sync_state(self, conn: Conn, *, user_id: str) -> Row: ...
    async def stream_state(
        self, conn: Conn, *, user_id: str, session_id: str, token_hash: bytes | None
    ) -> Row: ...
    def changes_after(
        self, conn: Conn, *, user_id: str, since: int, upto: int, live_only: bool, limit: int
    ) -> AsyncIterator[Row]: ...
    def member_changes_after(
        self, conn: Conn, *, user_id: str, since: int, upto: int, live_only: bool, limit: int
    ) -> AsyncIterator[Row]: ...

    # access_tokens.sql
    async def create_access_token(
        self,
        conn: Conn,
        *,
        id: str,
        user_id: str,
        name: str,
        scopes: list[str],
        token_hash: bytes,
        expires_in_days: int,
        quota: int,
    ) -> Row | None: ...
    def list_access_tokens(self, conn: Conn, *, user_id: str) -> AsyncIterator[Row]: ...
    async def delete_access_token(self, conn: Conn, *, user_id: str, id: str) -> str | None: ...
    async def touch_access_tokens(
        self, conn: Conn, *, ids: list[str], used_at: list[datetime]
    ) -> str: ...

    # system.sql
    def applied_migrations(self, conn: Conn) -> AsyncIterator[Row]: ...


# The access token's account check (token_account_ok, in sql/tokens.sql): its condition, and the
# parameters it reads. Task statements embed both where they say {token_account_ok} and
# {token}, so each of them checks the account itself, in its own round trip, and a condition
# added to the check holds for all of them. Such a statement answers the check in a column
# named ACCOUNT_OK, and a statement that names it is taken for one (server/access/gate.py reads
# the column; aiosql strips SQL comments, so the name is the mark a statement keeps).
ACCOUNT_OK = "account_ok"
# A statement that checks list access (issue 26) answers the caller's role on what it found in
# a column named ROLE, which server/access/gate.py compares with the operation's.
ROLE = "caller_role"
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
    def read(cls, path: Path = SQL_DIR) -> AccountCheck:
        """The token_account_ok block, in whichever file of sql/ it is."""
        for sql in sorted(path.glob("*.sql")):
            if found := ACCOUNT_CHECK.search(sql.read_text(encoding="utf-8")):
                params = tuple(p.strip() for p in found["params"].split(","))
                return cls(" ".join(found["condition"].split()), params)
        raise RuntimeError("no token_account_ok block in sql/")

    def embed(self, sql: str) -> str:
        """Each statement with the check where it says {token_account_ok}, and its parameters
        where its name line says {token}, with the operation's required role when it reads
        :required_role (a statement that checks list access)."""
        blocks = re.split(r"(?m)^(?=-- name:)", sql)
        return "".join(map(self._embed_one, blocks))

    def _embed_one(self, block: str) -> str:
        role = ("required_role",) if ":required_role" in block else ()
        token = ", ".join((*self.params, *role))
        return block.replace("{token}", token).replace("{token_account_ok}", self.condition)

    def numbered(self, placeholders: Mapping[str, str]) -> str:
        """The condition with each :name as its $n, for statements composed in Python."""
        return re.sub(r"(?<!:):(\w+)", lambda m: placeholders[m[1]], self.condition)


@functools.cache
def account_check() -> AccountCheck:
    return AccountCheck.read()


class ExecutorAdapter(AsyncPGAdapter):
    """aiosql's asyncpg adapter, but a statement on an Executor is handed to it at once: the
    adapter's MaybeAcquire (an object, `dir()` of the client and an async context around every
    statement) is for a pool, and an Executor acquires for itself. The pool and a bare
    connection go the adapter's own way.

    These are plain functions returning the statement's awaitable (the Executor's, or the
    adapter's own coroutine), not coroutines of their own: a coroutine layer is one more frame
    entered on the call and again on every resumption while the statement waits."""

    def select_one(
        self, conn: Any, query_name: str, sql: str, parameters: Any, record_class: Any = None
    ) -> Coroutine[Any, Any, Any]:
        if record_class is None and isinstance(conn, Executor):
            return conn.fetchrow(sql, *self.maybe_order_params(query_name, parameters))
        return super().select_one(conn, query_name, sql, parameters, record_class)

    def select_value(
        self, conn: Any, query_name: str, sql: str, parameters: Any
    ) -> Coroutine[Any, Any, Any]:
        if isinstance(conn, Executor):
            return conn.fetchval(sql, *self.maybe_order_params(query_name, parameters))
        return super().select_value(conn, query_name, sql, parameters)

    def insert_update_delete(
        self, conn: Any, query_name: str, sql: str, parameters: Any
    ) -> Coroutine[Any, Any, Any]:
        if isinstance(conn, Executor):
            return conn.execute(sql, *self.maybe_order_params(query_name, parameters))
        return super().insert_update_delete(conn, query_name, sql, parameters)


def load_queries(path: Path = SQL_DIR) -> Queries:
    """Every `-- name:` block of sql/*.sql, as async functions taking an Executor (or Conn)."""
    text = "\n\n".join(f.read_text(encoding="utf-8") for f in sorted(path.glob("*.sql")))
    text = text.replace("{task_columns}", TASK_COLUMNS).replace("{list_columns}", LIST_COLUMNS)
    text = text.replace("{comment_columns}", COMMENT_COLUMNS)
    text = AccountCheck.read(path).embed(text.replace("{user_columns}", USER_COLUMNS))
    return cast(Queries, aiosql.from_str(text, ExecutorAdapter))
