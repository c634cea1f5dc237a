"""One trip through the house: authenticate, validate, run the handler, check the reply."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from sanic import HTTPResponse

from server.accounts.limits import client_key
from server.accounts.security import bearer_token
from server.context import Request
from server.contract.fallback import Fallback
from server.contract.fastpath import OperationPlan, Unsure
from server.contract.loading import Contract, Operation, SanicOpenAPIRequest, SanicOpenAPIResponse
from server.contract.reply import Reply, Streamed
from server.contract.validation import (
    ResponseMismatch,
    check_storable,
    validate_request,
    validate_response,
)
from server.errors import AccountGone, ApiError, Forbidden, ServiceUnavailable, problem_reply

log = logging.getLogger("todo_api")

Handler = Callable[[Request], Awaitable[Reply]]
DEADLOCK_ATTEMPTS = 3
Route = Callable[..., Coroutine[Any, Any, HTTPResponse]]
Vouched = tuple[int, str, tuple[tuple[str, str], ...], bytes | None]  # an answer checked once


def endpoint(
    contract: Contract, operation: Operation, plan: OperationPlan, handler: Handler
) -> Route:
    """The Sanic route handler for one operation of the contract."""

    vouched: list[Vouched] = []  # see _checked_reply

    async def run(request: Request, **_path: str) -> HTTPResponse:
        settings = request.app.ctx.settings
        try:
            if operation.secured:
                await authenticate(request, handler)
            _check_owner(request)
            try:
                values = plan.read_request(request, validate=settings.validate_requests)
            except Unsure:  # openapi-core decides (adapted only now: the plan needs no copies)
                adapter = SanicOpenAPIRequest(request, operation)
                values = await _fallback(request, "request").request(
                    client_key(request), validate_request, contract, adapter
                )
            check_storable(values)
            request.ctx.path_params = values.path
            request.ctx.query = values.query
            request.ctx.header_params = values.headers
            request.ctx.body = values.body
            reply = await _answered(handler, request, operation.secured)
            if isinstance(reply, Streamed):
                await reply.stream(request)
                return None  # type: ignore[return-value]  # the stream has answered
        except Exception as exc:
            reply = problem_reply(request, exc)
        data = reply.encode()
        if settings.validate_responses:
            try:
                plan.check_response(reply.status, reply.headers, reply.content_type, data)
            except Unsure:
                reply, data = await _checked_reply(
                    request, contract, operation, reply, data, vouched
                )
        return reply.response(data)

    run.__name__ = operation.operation_id
    return run


class Contended(ServiceUnavailable):
    slug = "write-contention"
    default_detail = "Concurrent writes kept conflicting with this request; retry shortly."


async def _answered(handler: Handler, request: Request, secured: bool) -> Reply:
    """The handler's reply. A refusal met after the account check (a row gone, a key the
    account held) may be the account's end meanwhile: then it is the 401 it would have been a
    moment later, not a 404 or a 409 about the account's remains (one more round trip, on
    refusals only)."""
    try:
        return await _handled(handler, request)
    except (ApiError, asyncpg.IntegrityConstraintViolationError) as exc:
        if secured and _may_be_the_accounts_end(exc) and not await _account_live(request):
            raise AccountGone() from None
        raise


def _may_be_the_accounts_end(exc: Exception) -> bool:
    """A row or key gone (404, 409, 422, an integrity error); not a 412, which found the row."""
    return not isinstance(exc, ApiError) or exc.status in (404, 409, 422)


async def _account_live(request: Request) -> bool:
    app = request.app
    return bool(await app.ctx.queries.token_account_ok(app.ctx.db, **request.ctx.token))


async def _handled(handler: Handler, request: Request) -> Reply:
    """The handler's reply. A transaction PostgreSQL chose as a deadlock's victim was rolled back
    whole (nothing of it happened, nothing was answered), so the operation runs again; a third
    loss is a 503 with Retry-After (still nothing happened), logged."""
    for _attempt in range(DEADLOCK_ATTEMPTS - 1):
        try:
            return await handler(request)
        except asyncpg.DeadlockDetectedError as exc:
            log.info("deadlock victim, running %s again: %s", request.path, exc)
    try:
        return await handler(request)
    except asyncpg.DeadlockDetectedError as exc:
        log.warning("deadlock victim %d times, answered 503: %s", DEADLOCK_ATTEMPTS, exc)
        raise Contended(1) from None


async def authenticate(request: Request, handler: Handler) -> None:
    """A bearer JWT whose login family is live (its account exists, and no logout, password
    change or session deletion ended it), or 401 with WWW-Authenticate.

    request.ctx.token holds the parameters of that check (token_account_ok, sql/tokens.sql). A
    handler marked checks_account runs the check in its own statement; for any other, it costs
    a round trip here."""
    app = request.app
    token = app.ctx.tokens.read(bearer_token(request.headers.get("authorization")))
    request.ctx.user_id, request.ctx.session_id = token.user_id, token.session_id
    request.ctx.token_expires = token.expires
    request.ctx.token = {"user_id": token.user_id, "session_id": token.session_id}
    if getattr(handler, "checks_account", False):
        return
    if not await app.ctx.queries.token_account_ok(app.ctx.db, **request.ctx.token):
        raise AccountGone()


def _check_owner(request: Request) -> None:
    """/api/{user_id}/... belongs to the token's subject alone (a malformed id, or the
    subject's own in another spelling, is left to validation's 400)."""
    raw = request.match_info.get("user_id")
    if raw is None or raw.lower() == request.ctx.user_id:
        return
    try:
        named = str(uuid.UUID(raw))
    except ValueError:
        return
    if named != request.ctx.user_id:
        raise Forbidden("These tasks belong to another account.")


def _fallback(request: Request, kind: str) -> Fallback:
    """The worker's openapi-core thread, each use counted in /metrics by operation."""
    app = request.app
    if app.ctx.metrics is not None and request.route is not None:
        operation = request.route.name.rpartition(".")[2]
        app.ctx.metrics.fallbacks.labels(operation, kind).inc()
    return app.ctx.fallback


async def _checked_reply(
    request: Request,
    contract: Contract,
    operation: Operation,
    reply: Reply,
    data: bytes | None,
    vouched: list[Vouched],
) -> tuple[Reply, bytes | None]:
    """The reply, checked by openapi-core (off the loop), or a 500 if it breaks the contract.
    An answer that openapi-core passed is remembered (its status, type and body object): the
    same constant object again, the contract as YAML, is not parsed and checked on every
    request (that held the event loop 50 to 190 ms each)."""
    answer = (reply.status, reply.content_type, tuple(reply.headers.items()), data)
    if data is not None and vouched and vouched[0][3] is data and vouched[0] == answer:
        return reply, data
    checked = SanicOpenAPIResponse(reply.status, reply.headers, reply.content_type, data)
    adapter = SanicOpenAPIRequest(request, operation)
    try:
        await _fallback(request, "reply").reply(validate_response, contract, adapter, checked)
    except ResponseMismatch as exc:
        log.error("response breaks the contract: %s", exc)
        reply = problem_reply(request, ApiError("The server produced an invalid response."))
        return reply, reply.encode()
    vouched[:] = [answer]
    return reply, data
