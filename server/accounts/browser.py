"""Browser mode: the refresh token and the stream credential kept in cookies no script reads.

A login, refresh or logout sent with `X-Auth-Mode: browser` keeps the refresh token in the
`refresh_token` cookie (Path=/api/auth) instead of the body, and sets the `stream_token` cookie
(Path=/api/{user_id}/events), with which the browser's own EventSource opens the event stream
(server/access/gate.py). Both are HttpOnly (no script on the page reads them: an XSS cannot
carry them off), Secure and SameSite=Strict (never sent on a request another site starts).

CSRF: a cookie is sent by the browser on its own, so what it authorizes must be something a
hostile page cannot make the browser send. The three auth operations read the cookie only with
the `X-Auth-Mode: browser` header: an HTML form cannot send a custom header, and a script on
another origin can only after a CORS preflight that this service answers for allowed origins
alone. Beside it, the Origin header, when a browser sends one, must be the service's own or an
allowed origin (server/access/origins.py), and a `Sec-Fetch-Site: cross-site` request is
refused: each holds should another fail (a lax CORS setting, an old browser).
The event stream is a GET that changes nothing; SameSite=Strict keeps another site's page from
opening it with the cookie, and CORS from reading it.
"""

from __future__ import annotations

from server.access.origins import own_origin
from server.access.tokens import issue_stream_token
from server.config import Settings
from server.contract.context import Request
from server.errors import Forbidden

MODE_HEADER = "X-Auth-Mode"
BROWSER = "browser"
REFRESH_COOKIE = "refresh_token"
REFRESH_PATH = "/api/auth"
STREAM_COOKIE = "stream_token"
ORIGIN_REFUSED = (
    "Browser mode is refused from this origin; the service allows its own origin and those"
    " in CORS_ORIGINS (and local dev servers in development)."
)
SITE_REFUSED = (
    "Browser mode needs the page and the service on one site (its cookies are SameSite=Strict),"
    " and this call comes from another site: http://localhost and http://127.0.0.1 are two"
    " sites, so open the page on the host name of the service's URL, or proxy /api through"
    " the dev server."
)


def browser_mode(request: Request) -> bool:
    """Whether the request asks for browser mode (403 from a refused origin: see above)."""
    if request.ctx.header_params.get(MODE_HEADER) != BROWSER:
        return False
    headers = request.headers
    if not request.app.ctx.origins.admits(
        headers.get("origin"), own_origin(request.scheme, request.host)
    ):
        raise Forbidden(ORIGIN_REFUSED)
    if headers.get("sec-fetch-site") == "cross-site":  # an allowed origin, on another site
        raise Forbidden(SITE_REFUSED)
    return True


def stream_path(user_id: str) -> str:
    return f"/api/{user_id}/events"


def session_cookies(
    settings: Settings, user_id: str, session_id: str, refresh_token: str
) -> tuple[str, ...]:
    """The Set-Cookie values of a browser-mode login or refresh."""
    return (
        _cookie(REFRESH_COOKIE, refresh_token, REFRESH_PATH, settings.refresh_token_ttl),
        _cookie(
            STREAM_COOKIE,
            issue_stream_token(settings, user_id, session_id),
            stream_path(user_id),
            settings.refresh_family_ttl,
        ),
    )


def cleared_cookies(user_id: str | None) -> tuple[str, ...]:
    """The Set-Cookie values that remove a browser-mode session's cookies (its stream cookie
    when its account is known)."""
    stream = (_cookie(STREAM_COOKIE, "", stream_path(user_id), 0),) if user_id else ()
    return (_cookie(REFRESH_COOKIE, "", REFRESH_PATH, 0), *stream)


def _cookie(name: str, value: str, path: str, max_age: int) -> str:
    return f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
