"""After every request: its id and the security headers on the answer, its metrics, one
JSON access-log line, and a refused web origin's log line."""

from __future__ import annotations

import time

from sanic import HTTPResponse

from server.access.origins import own_origin
from server.clients import peer_address
from server.contract.context import Request
from server.contract.problems import PROBLEM_JSON
from server.contract.reply import JSON, ApiResponse
from server.observability.logs import log_access

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
ApiResponse.add_by_default(API_HEADERS)  # encoded once per process
ApiResponse.encode_once(  # what else answers commonly carry (Sanic sets Connection on each)
    [
        ("content-type", JSON),
        ("content-type", PROBLEM_JSON),
        ("connection", "keep-alive"),
        ("connection", "close"),
        ("Vary", "Origin"),  # set below wherever CORS is on
    ]
)


def finish_response(request: Request, response: HTTPResponse) -> None:
    headers = response.headers
    if not isinstance(response, ApiResponse):  # static files, event streams, Sanic's own
        for name, value in API_HEADERS.items():
            headers.setdefault(name, value)
    page_csp = PAGE_CSP.get(request.path.lstrip("/").split("/", 1)[0])
    if page_csp:
        headers["Content-Security-Policy"] = page_csp
        headers["Cache-Control"] = "public, max-age=300"
    origins = request.app.ctx.origins
    if origins.cors:  # CORS answers each Origin its own way: a shared cache must key on it too
        headers.setdefault("Vary", "Origin")  # (CORS's own Vary, when it answers, is the same)
    origin = request.headers.get("origin")
    if origin is not None:  # a call CORS refuses is logged once, with the setting to change
        origins.admits(origin, own_origin(request.scheme, request.host))
    request_id = request.ctx.request_id
    headers["X-Request-ID"] = request_id
    started = request.ctx.started
    seconds = time.perf_counter() - started if started else None
    metrics = request.app.ctx.metrics
    route = request.route
    if metrics is not None and seconds is not None:
        metrics.observe(route.name if route else None, response.status, seconds)
    log_access(
        {
            "request_id": request_id,
            "method": request.method,
            "path": request.logged_path,
            "status": response.status,
            "duration_ms": round(seconds * 1000, 2) if seconds is not None else None,
            "client": peer_address(request),
            "user_id": request.ctx.user_id or None,
        }
    )
