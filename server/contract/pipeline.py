"""One trip through the house: admit (server/access/gate.py), validate, run the handler, check
the reply."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from sanic import HTTPResponse

from server.access.gate import CallerExecutor
from server.contract.adapters import SanicOpenAPIRequest, SanicOpenAPIResponse
from server.contract.context import Request
from server.contract.fastpath import OperationPlan, Unsure
from server.contract.loading import Contract, Operation
from server.contract.problems import problem_reply
from server.contract.reply import Reply, Streamed
from server.contract.validation import (
    RequestValues,
    ResponseMismatch,
    check_storable,
    validate_request,
    validate_response,
)
from server.db.executor import ATTEMPTS
from server.errors import ApiError

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
            checked = _admit(request, operation.secured)
            values = _read_request(request, contract, operation, plan)
            check_storable(values)
            request.ctx.path_params = values.path
            request.ctx.query = values.query
            request.ctx.header_params = values.headers
            request.ctx.body = values.body
            reply = await _retrying(handler, request)
            if checked is not None:
                await checked.confirm()
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


def _admit(request: Request, secured: bool) -> CallerExecutor | None:
    """The request's executor (its caller's, on a secured operation: 401 without a valid bearer
    access token, 403 on another account's path); the caller's, to confirm its session."""
    gate = request.app.ctx.gate
    if not secured:
        request.ctx.db = gate.anonymous
        return None
    caller = gate.caller(request.headers.get("authorization"), request.match_info.get("user_id"))
    request.ctx.caller = caller
    checked = request.ctx.db = gate.executor(caller)
    return checked


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
