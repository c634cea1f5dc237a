"""One trip through the house: authenticate, validate, run the handler, check the reply."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from sanic import HTTPResponse

from server.access.tokens import bearer_token
from server.contract.context import Request
from server.contract.fastpath import OperationPlan, Unsure
from server.contract.loading import Contract, Operation, SanicOpenAPIRequest, SanicOpenAPIResponse
from server.contract.problems import problem_reply
from server.contract.reply import Reply, Streamed
from server.contract.validation import (
    RequestValues,
    ResponseMismatch,
    check_storable,
    validate_request,
    validate_response,
)
from server.db.executor import ATTEMPTS, Executor
from server.errors import AccountGone, ApiError, Forbidden

log = logging.getLogger("todo_api")

Handler = Callable[[Request], Awaitable[Reply]]
Route = Callable[..., Coroutine[Any, Any, HTTPResponse]]
Vouched = tuple[int, str, tuple[tuple[str, str], ...], bytes | None]  # an answer checked once


def endpoint(
    contract: Contract, operation: Operation, plan: OperationPlan, handler: Handler
) -> Route:
    """The Sanic route handler for one operation of the contract."""

    vouched: list[Vouched] = []  # see _check_reply

    async def run(request: Request, **_path: str) -> HTTPResponse:
        try:
            request.ctx.db = Executor(request.app.ctx.db)
            if operation.secured:
                await authenticate(request, handler)
            _check_owner(request)
            values = _read_request(request, contract, operation, plan)
            check_storable(values)
            request.ctx.path_params = values.path
            request.ctx.query = values.query
            request.ctx.header_params = values.headers
            request.ctx.body = values.body
            reply = await _retrying(handler, request)
            if isinstance(reply, Streamed):
                await reply.stream(request)
                return None  # type: ignore[return-value]  # the stream has answered
        except Exception as exc:
            reply = problem_reply(request, exc)
        return _respond(request, contract, operation, plan, reply, vouched)

    run.__name__ = operation.operation_id
    return run


async def _retrying(handler: Handler, request: Request) -> Reply:
    """The handler's reply; a transaction PostgreSQL chose as a deadlock's victim was rolled back
    whole (nothing of it happened, nothing was answered), so the operation runs again."""
    for _attempt in range(ATTEMPTS - 1):
        try:
            return await handler(request)
        except asyncpg.DeadlockDetectedError as exc:
            log.info("deadlock victim, running %s again: %s", request.path, exc)
    return await handler(request)


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
    if not await app.ctx.queries.token_account_ok(request.ctx.db, **request.ctx.token):
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


def _read_request(
    request: Request, contract: Contract, operation: Operation, plan: OperationPlan
) -> RequestValues:
    """The compiled plan when it can vouch for the request; openapi-core otherwise (its
    adapter is built only then: copying the query and headers is work the plan never needs)."""
    try:
        return plan.read_request(request, validate=request.app.ctx.settings.validate_requests)
    except Unsure:
        return validate_request(contract, SanicOpenAPIRequest(request, operation))


def _check_reply(
    request: Request,
    contract: Contract,
    operation: Operation,
    plan: OperationPlan,
    reply: Reply,
    data: bytes | None,
    vouched: list[Vouched],
) -> None:
    """The reply against the contract: the compiled plan, else openapi-core. An answer that
    openapi-core passed is remembered (its status, type and body object): the same constant
    object again, the contract as YAML, is not parsed and checked on every request (that held
    the event loop 50 to 190 ms each)."""
    try:
        plan.check_response(reply.status, reply.headers, reply.content_type, data)
    except Unsure:
        answer = (reply.status, reply.content_type, tuple(reply.headers.items()), data)
        if data is not None and vouched and vouched[0][3] is data and vouched[0] == answer:
            return
        checked = SanicOpenAPIResponse(reply.status, reply.headers, reply.content_type, data)
        validate_response(contract, SanicOpenAPIRequest(request, operation), checked)
        vouched[:] = [answer]


def _respond(
    request: Request,
    contract: Contract,
    operation: Operation,
    plan: OperationPlan,
    reply: Reply,
    vouched: list[Vouched],
) -> HTTPResponse:
    data = reply.encode()
    if request.app.ctx.settings.validate_responses:
        try:
            _check_reply(request, contract, operation, plan, reply, data, vouched)
        except ResponseMismatch as exc:
            log.error("response breaks the contract: %s", exc)
            reply = problem_reply(request, ApiError("The server produced an invalid response."))
            data = reply.encode()
    return reply.response(data)
