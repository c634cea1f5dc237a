"""The one exit of every problem+json (RFC 9457) answer: problem_reply."""

from __future__ import annotations

from typing import Any

from sanic.exceptions import SanicException

from server.contract.context import App, Request
from server.contract.reply import Reply
from server.errors import TITLES, ApiError, to_api_error

PROBLEM_JSON = "application/problem+json"
ROUTABLE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem(request: Request, error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:todo-api:problem:{error.slug}",
        "title": TITLES.get(error.status, "Error"),
        "status": error.status,
        "detail": error.detail,
        "instance": request.path,
        "request_id": request.ctx.request_id,
    }
    if error.errors:
        body["errors"] = error.errors
    body.update(error.members)
    return body


def problem_reply(request: Request, exc: BaseException) -> Reply:
    """The one exit: every problem answer, raised in a handler, in the pipeline or outside any
    operation (unknown route, 405, 413, bad HTTP), is made here."""
    error = to_api_error(exc, request.app.ctx.settings.retry_after_seconds)
    if error.status == 405 and "Allow" not in error.headers:
        error.headers["Allow"] = _allowed_methods(request.app, request.path)
    return Reply(problem(request, error), error.status, error.headers, PROBLEM_JSON)


def _allowed_methods(app: App, path: str) -> str:
    """Sanic's router names the allowed methods of static paths only: ask it for each method."""
    allowed = []
    for method in ROUTABLE_METHODS:
        try:
            app.router.get(path, method, None)
        except SanicException:
            continue
        allowed.append(method)
    return ", ".join(allowed)
