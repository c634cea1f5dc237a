"""The one place that decides whether a request may act.

An unsecured operation (signup, login, refresh, logout, the system's) runs its statements on
the plain executor. A secured one is admitted by its bearer access token (401 without a valid
one; 403 on another account's /api/{user_id}/...) and runs every statement on a CallerExecutor,
which checks the caller's session itself, so no handler can forget it:

- a statement that embeds the account check (sql/tokens.sql's token_account_ok, written in where
  a statement says {token_account_ok}) answers rows with its verdict, `account_ok`, which the
  executor reads: false, or no row at all, is 401 (fail closed). The hot path's statements
  check the session so, in their one round trip. A statement that names account_ok is taken
  for one; one that embeds the check but does not answer it gets the check below (a round trip
  more, never one less);
- any other statement is preceded, once per request, by token_account_ok on its connection, so
  nothing is read or written for a revoked session;
- a reply that no statement vouched for (a handler that ran none) waits for that check too
  (`confirm`, by the pipeline). A request refused before any statement (400, 422) is answered
  as it is: it read and wrote nothing.

Roles (issue 26): each operation under /api/{user_id}/... declares `x-required-role` (viewer,
editor, owner: what the caller needs on the list it acts on), and the Caller carries it. A
statement that checks list access answers, beside `account_ok`, the caller's role on the object
it found (`caller_role`: null when the caller belongs to no list holding it, and then the object's
columns are null too, so the handler answers the same 404 as for a missing one); the statement
itself writes nothing for a role too low, and the executor answers that 403 permission-denied,
naming the role needed, before the handler sees the row: no handler compares roles.
Personal access tokens (issue 27): Gate.caller reads a `tdo_` token (server/access/personal.py)
as it reads an access token: its account and id, and the scopes it holds, stand on the Caller,
and the same account check (token_account_ok, given the token's hash) finds it live or not, in
the same one round trip. The scopes the operation's `personalToken` requirement lists are
compared here, before any statement: a token lacking one (or on an operation only a session may
call) is 403 insufficient-scope, and one naming another account than the path's is 403, once
the check has found the token live (an unknown, forged, revoked or expired one is the 401 it
is, as a forged access token is: its account is only its claim until then). Each use found
live is noted for `last_used_at` (server/access/uses.py), written later, off the request's path.
"""

from __future__ import annotations

import uuid
from typing import Any, Self

import asyncpg

from server.access.personal import PersonalToken, PersonalTokenReader, is_personal
from server.access.tokens import (
    AccessTokenReader,
    bearer_token,
    read_access_token,
    stream_audience,
)
from server.access.uses import TokenUses
from server.db.executor import Executor, Statement
from server.db.pool import Database
from server.db.queries import ACCOUNT_OK, ROLE, AccessParams, Queries, TokenParams
from server.errors import AccountGone, Forbidden, InsufficientScope, PermissionDenied

RANKS = {"viewer": 1, "editor": 2, "owner": 3}
# A personal token's stream has no `exp` of its own: the token's expires_at (the account check's
# session_left) ends it.
PERSONAL_EXPIRES = 2**62


class Caller:
    """Whom a secured request acts for, as its access token says (its account, its login
    family, when it expires), and whether a statement of this request found that session live.
    A personal token's caller: its id as session_id, its hash, and its refusal when it names
    another account than the path's or its scopes do not cover the operation (answered once
    the token is found live: an unknown one is 401 wherever it is sent)."""

    __slots__ = (
        "expires",
        "live",
        "params",
        "refusal",
        "required_role",
        "session_id",
        "token_hash",
        "user_id",
    )

    def __init__(
        self,
        user_id: str,
        session_id: str,
        expires: int,
        required_role: str | None = None,
        token_hash: bytes | None = None,
    ) -> None:
        self.user_id, self.session_id, self.expires = user_id, session_id, expires
        self.required_role = required_role  # the operation's x-required-role
        self.token_hash = token_hash  # a personal token's; None: a session's access token
        self.params = TokenParams(user_id=user_id, session_id=session_id, token_hash=token_hash)
        self.refusal: Forbidden | InsufficientScope | None = None
        self.live = False

    @property
    def access(self) -> AccessParams:
        """The parameters of a statement that checks list access: the account check's and the
        role the operation requires."""
        return AccessParams(**self.params, required_role=self.required_role)

    def check_role(self, role: str | None) -> None:
        """403 when the role a statement found for the caller is below the operation's (a null
        role is no access at all: the statement found nothing, and the handler answers 404)."""
        needed = self.required_role
        if role is not None and needed is not None and RANKS[role] < RANKS[needed]:
            raise PermissionDenied(
                f"This needs the {needed} role on the list; yours is {role}.",
                members={"required_role": needed},
            )


NOBODY = Caller("", "", 0)  # an unsecured operation's


class CallerExecutor(Executor):
    """An Executor that checks its caller's session around each statement (above)."""

    __slots__ = ("caller", "queries", "uses")

    def __init__(
        self,
        pool: Database,
        caller: Caller,
        queries: Queries,
        uses: TokenUses,
        conn: asyncpg.Connection | None = None,
    ) -> None:
        super().__init__(pool, conn)
        self.caller, self.queries, self.uses = caller, queries, uses

    def on(self, conn: asyncpg.Connection) -> Self:
        return type(self)(self.pool, self.caller, self.queries, self.uses, conn)

    async def run(
        self, conn: asyncpg.Connection, statement: Statement, sql: str, args: tuple[object, ...]
    ) -> Any:
        if ACCOUNT_OK in sql:
            answer = await statement(conn, sql, *args)
            first = (answer[0] if answer else None) if isinstance(answer, list) else answer
            if first is None or not first[ACCOUNT_OK]:
                raise AccountGone()
            self._found_live()
            self.caller.check_role(first.get(ROLE))
            return answer
        if not self.caller.live:
            await self._check(conn)
        return await statement(conn, sql, *args)

    async def confirm(self) -> None:
        """The session's check, unless a statement of this request has made it."""
        if self.caller.live:
            return
        if self.conn is not None:
            await self._check(self.conn)
            return
        async with self.pool.acquire() as conn:
            await self._check(conn)

    async def live_now(self) -> bool:
        """Whether the session works at this moment, checked afresh (whatever this request's
        statements found before), on a connection of its own."""
        async with self.pool.acquire() as conn:
            return bool(await self.queries.token_account_ok(conn, **self.caller.params))

    async def _check(self, conn: asyncpg.Connection) -> None:
        if not await self.queries.token_account_ok(conn, **self.caller.params):
            raise AccountGone()
        self._found_live()

    def _found_live(self) -> None:
        caller = self.caller
        if not caller.live and caller.token_hash is not None:
            self.uses.note(caller.session_id)
        caller.live = True


class Gate:
    """Admits the requests of one app: an unsecured one to the plain executor, a secured one,
    as its Caller, to a CallerExecutor."""

    def __init__(
        self, pool: Database, queries: Queries, tokens: AccessTokenReader, uses: TokenUses
    ) -> None:
        self.pool, self.queries, self.tokens, self.uses = pool, queries, tokens, uses
        self.personal = PersonalTokenReader(tokens.settings)
        self.anonymous = Executor(pool)
        self.stream_audience = stream_audience(tokens.settings)

    def caller(
        self,
        authorization: str | None,
        owner: str | None,
        required_role: str | None = None,
        cookie: str | None = None,
        token_scopes: frozenset[str] | None = None,
    ) -> Caller:
        """Whom the bearer access token speaks for (401 when none is valid), on a path of its
        own account (`owner`, the path's user_id, or None on a path that names none), needing
        `required_role` on the list the operation acts on.

        `cookie`: the stream cookie, on an operation whose contract lists it as the bearer
        token's alternative (GET /events, for the browser's EventSource), read only when no
        Authorization is sent. It speaks for its login family as an access token does, so
        the same session check admits it and every revocation ends it; it expires with the
        longest a family may live, not in 30 minutes, so EventSource's reconnection keeps
        working for the life of the login (server/accounts/browser.py).

        `token_scopes`: what the operation's `personalToken` requirement lists (None: only a
        session may call it); a personal token's caller carries its refusal when it lacks any
        (the pipeline answers it once the token is found live)."""
        if authorization is None and cookie:
            token, _ = read_access_token(self.tokens.settings, cookie, self.stream_audience)
        else:
            bearer = bearer_token(authorization)
            if is_personal(bearer):
                return self._personal(
                    self.personal.read(bearer), owner, required_role, token_scopes
                )
            token = self.tokens.read(bearer)
        _check_owner(owner, token.user_id)
        return Caller(token.user_id, token.session_id, token.expires, required_role)

    def _personal(
        self,
        token: PersonalToken,
        owner: str | None,
        required_role: str | None,
        needed: frozenset[str] | None,
    ) -> Caller:
        caller = Caller(
            token.user_id, token.token_id, PERSONAL_EXPIRES, required_role, token.token_hash
        )
        try:  # a token's account is only its claim until the check finds it live
            _check_owner(owner, token.user_id)
        except Forbidden as refused:
            caller.refusal = refused
            return caller
        if needed is None:
            caller.refusal = InsufficientScope(())
        elif not needed <= token.scopes:
            caller.refusal = InsufficientScope(tuple(sorted(needed)))
        return caller

    def executor(self, caller: Caller) -> CallerExecutor:
        return CallerExecutor(self.pool, caller, self.queries, self.uses)


def _check_owner(owner: str | None, user_id: str) -> None:
    """/api/{user_id}/... belongs to the token's subject alone (a malformed id, or the
    subject's own in another spelling, is left to validation's 400)."""
    if owner is None or owner.lower() == user_id:
        return
    try:
        named = str(uuid.UUID(owner))
    except ValueError:
        return
    if named != user_id:
        raise Forbidden("These tasks belong to another account.")
