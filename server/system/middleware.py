"""Around every request: its id, security headers, and one JSON access-log line."""

from __future__ import annotations

import logging
import os
import re
import time

from sanic import HTTPResponse

from server.context import Request

access_log = logging.getLogger("todo_api.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
# Redoc runs its search in a blob: worker and styles itself inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'"
)
# Swagger UI needs less: its own files, data: icons from its stylesheet, and fetch to this origin
# alone (the contract, and "Try it out"); no inline script or style, no eval, no worker, no font.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_CSP = {"docs": DOCS_CSP, "console": CONSOLE_CSP}  # by the path's first segment


def _new_request_id() -> str:
    """32 random hex digits, as uuid4().hex looked, without building a UUID per request."""
    return os.urandom(16).hex()


async def assign_request_id(request: Request) -> None:
    incoming = request.headers.get("x-request-id", "")
    request.ctx.request_id = incoming if REQUEST_ID.match(incoming) else _new_request_id()
    request.ctx.started = time.perf_counter()


async def finish_response(request: Request, response: HTTPResponse) -> None:
    headers = response.headers
    for name, value in API_HEADERS.items():
        headers.setdefault(name, value)
    page_csp = PAGE_CSP.get(request.path.lstrip("/").split("/", 1)[0])
    if page_csp:
        headers["Content-Security-Policy"] = page_csp
        headers["Cache-Control"] = "public, max-age=300"
    request_id = request.ctx.request_id or _new_request_id()
    headers["X-Request-ID"] = request_id
    started = request.ctx.started
    seconds = time.perf_counter() - started if started else None
    metrics = request.app.ctx.metrics
    if metrics is not None and seconds is not None:
        route = request.route
        metrics.observe(route.name if route else None, response.status, seconds)
    access_log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round(seconds * 1000, 2) if seconds is not None else None,
            "client": request.remote_addr or request.ip,
            "user_id": request.ctx.user_id or None,
        },
    )
