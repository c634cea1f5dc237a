"""One trip through the house: admit (server/access/gate.py), validate, run the handler, check
the reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import asyncpg
from sanic import HTTPResponse

from server.access.gate import CallerExecutor
from server.clients import client_key
from server.contract.adapters import SanicOpenAPIRequest, SanicOpenAPIResponse
from server.contract.context import Request
from server.contract.fallback import Fallback
from server.contract.fastpath import OperationPlan, Unsure
from server.contract.loading import Contract, Operation
from server.contract.parts import Held, send_in_parts
from server.contract.problems import problem_reply
from server.contract.reply import AccessEnded, Allowed, Reply, Streamed
from server.contract.validation import (
    ResponseMismatch,
    check_storable,
    validate_request,
    validate_response,
)
from server.db.executor import ATTEMPTS
from server.errors import AccountGone, ApiError, ServiceUnavailable

log = logging.getLogger("todo_api")

Handler = Callable[[Request], Awaitable[Reply]]
# Bytes: a request body (only the import's may be so large) is read and checked, and a reply
# (an export) checked, on a thread: 10,000 tasks held the event loop a second.
LARGE_BODY = 256 * 1024
Route = Callable[..., Coroutine[Any, Any, HTTPResponse]]
Vouched = tuple[int, str, tuple[tuple[str, str], ...], bytes | None]  # an answer checked once


def endpoint(
    contract: Contract, operation: Operation, plan: OperationPlan, handler: Handler
) -> Route:
    """The Sanic route handler for one operation of the contract."""

    vouched: list[Vouched] = []  # see _checked_reply

    async def run(request: Request, **_path: str) -> HTTPResponse:
        settings = request.app.ctx.settings
        checked: CallerExecutor | None = None
        try:
            try:
                checked = await _admit(request, operation)
                try:
                    if len(request.body) > LARGE_BODY:  # (only the import's may be so large)
                        values = await asyncio.to_thread(
                            _read, plan, request, settings.validate_requests
                        )
                    else:
                        values = _read(plan, request, settings.validate_requests)
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
                reply = await _answered(handler, request, checked)
                if checked is not None and not checked.caller.live:  # no statement checked it
                    await checked.confirm()
                if isinstance(reply, Streamed):
                    await reply.stream(request)
                    return None  # type: ignore[return-value]  # the stream has answered
            except Exception as exc:
                reply = problem_reply(request, exc)
            data = reply.encode()
            if settings.validate_responses:
                answer = (reply.status, reply.headers, reply.content_type, data)
                try:
                    if data is not None and len(data) > LARGE_BODY:
                        await _checked_on_a_thread(request, partial(plan.check_response, *answer))
                    else:
                        plan.check_response(*answer)
                except Unsure:
                    reply, data = await _checked_reply(
                        request, contract, operation, reply, data, vouched
                    )
            if data is not None and len(data) > LARGE_BODY and request.method != "HEAD":
                # sent as the client reads it (a HEAD's is not sent: Sanic drops it), while
                # the access it was read under holds: asked again before its head is given
                held = Held(_access(checked, reply))
                refused = await held.refusal()
                if refused is not None:
                    reply = problem_reply(request, refused)
                    return reply.response(reply.encode())
                await send_in_parts(request, reply, data, held)
                return None  # type: ignore[return-value]  # answered
            return reply.response(data)
        finally:  # the answer is sent, or the request is gone
            _let_go(request.ctx.when_sent)

    run.__name__ = operation.operation_id
    return run


async def _checked_on_a_thread(request: Request, check: Callable[[], None]) -> None:
    """check() on a thread. If the request is gone meanwhile, what it holds until its answer is
    sent (a slot: server/slots.py) is held until the thread is done, the body being in use."""
    checking = asyncio.ensure_future(asyncio.to_thread(check))
    try:
        await asyncio.shield(checking)
    except asyncio.CancelledError:
        held, request.ctx.when_sent = request.ctx.when_sent, []
        checking.add_done_callback(lambda _: _let_go(held))
        raise


def _access(checked: CallerExecutor | None, reply: Reply) -> Allowed | None:
    """What a large answer asks as it is sent: the caller's session (on a secured operation),
    and what the handler names (a calendar feed: the feed)."""
    own = reply.allowed
    if checked is None:
        return own

    async def session_and_own() -> None:
        if not await checked.live_now():
            raise AccessEnded(AccountGone())
        if own is not None:
            await own()

    return session_and_own


def _let_go(held: list[Callable[[], None]]) -> None:
    for done in held:
        done()


class Contended(ServiceUnavailable):
    slug = "write-contention"
    default_detail = "Concurrent writes kept conflicting with this request; retry shortly."


async def _answered(handler: Handler, request: Request, checked: CallerExecutor | None) -> Reply:
    """The handler's reply. A transaction PostgreSQL chose as a deadlock's victim was rolled back
    whole (nothing of it happened, nothing was answered), so the operation runs again; a third
    loss is a 503 with Retry-After (still nothing happened), logged.

    A refusal met after the account check (a row gone, a key the account held) may be the
    account's end meanwhile: then it is the 401 it would have been a moment later, not a 404 or
    a 409 about the account's remains (one more round trip, on refusals only)."""
    try:
        for _attempt in range(ATTEMPTS - 1):
            try:
                return await handler(request)
            except asyncpg.DeadlockDetectedError as exc:
                log.info("deadlock victim, running %s again: %s", request.logged_path, exc)
        try:
            return await handler(request)
        except asyncpg.DeadlockDetectedError as exc:
            log.warning("deadlock victim %d times, answered 503: %s", ATTEMPTS, exc)
            raise Contended(1) from None
    except (ApiError, asyncpg.IntegrityConstraintViolationError) as exc:
        if checked is not None and _may_be_the_accounts_end(exc) and not await checked.live_now():
            raise AccountGone() from None
        raise


def _may_be_the_accounts_end(exc: Exception) -> bool:
    """A 412 is not: the task it names is there (an account's end takes its tasks with it)."""
    return not isinstance(exc, ApiError) or exc.status in (404, 409, 422)


def _read(plan: OperationPlan, request: Request, validate: bool) -> Any:
    """The request's clean values, checked storable (Unsure: openapi-core must decide)."""
    values = plan.read_request(request, validate=validate)
    check_storable(values)
    return values


async def _admit(request: Request, operation: Operation) -> CallerExecutor | None:
    """The request's executor (its caller's, on a secured operation: 401 without a valid bearer
    access token, personal access token, or the cookie the operation accepts instead, 403 on
    another account's path), carrying the role the operation declares; the caller's, to confirm
    its session. A personal token on another account's path, or whose scopes do not cover the
    operation, is refused (403, 403 insufficient-scope) once the account check has found it live
    (one round trip, on refusals only: an unknown, forged, revoked or expired token is the 401
    any bad token is)."""
    gate = request.app.ctx.gate
    if not operation.secured:
        request.ctx.db = gate.anonymous
        return None
    cookie = request.cookies.get(operation.cookie) if operation.cookie else None
    caller = gate.caller(
        request.headers.get("authorization"),
        request.match_info.get("user_id"),
        operation.required_role,
        cookie,
        operation.token_scopes,
    )
    request.ctx.caller = caller
    checked = request.ctx.db = gate.executor(caller)
    if caller.refusal is not None:
        await checked.confirm()
        raise caller.refusal
    return checked


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
