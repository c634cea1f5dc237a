"""Which web origins may call the service from a browser: CORS, and the Origin check of the
cookie modes (server/accounts/browser.py).

Production allows the configured CORS_ORIGINS alone. Development also allows every local dev
server (`http://localhost:<port>`, `http://127.0.0.1:<port>`) with no configuration. A refused
origin is logged once, naming the setting that allows it (a dev server's preflight that gets
no Access-Control-Allow-Origin is otherwise silent); the set remembered is bounded, so a
stream of forged origins cannot grow it."""

from __future__ import annotations

import logging
import re

from server.config import Settings

log = logging.getLogger("todo_api")
LOCAL_DEV_ORIGIN = re.compile(r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?\Z")
REMEMBERED = 1000  # refused origins logged; past that, no more lines


class Origins:
    def __init__(self, settings: Settings) -> None:
        self.listed = frozenset(settings.cors_origins)
        self.local = not settings.production
        self.refused: set[str] = set()
        # sanic-ext's cors_origins: exact origins, and the local pattern in development (made
        # once: every answer asks whether there are any)
        self.cors: list[str | re.Pattern[str]] = [
            *sorted(self.listed),
            *([LOCAL_DEV_ORIGIN] if self.local else []),
        ]

    def allows(self, origin: str) -> bool:
        return origin in self.listed or (self.local and LOCAL_DEV_ORIGIN.match(origin) is not None)

    def admits(self, origin: str | None, own: str) -> bool:
        """Whether a request from `origin` (its Origin header) may act: none sent (not a
        browser's cross-origin call), the service's own origin (`own`), or an allowed one.
        A refused origin is logged once."""
        if origin is None or origin == own or self.allows(origin):
            return True
        self.note_refused(origin)
        return False

    def note_refused(self, origin: str) -> None:
        if origin in self.refused or len(self.refused) >= REMEMBERED:
            return
        self.refused.add(origin)
        log.warning(
            "CORS: refused origin %r; to allow it, add it to CORS_ORIGINS "
            "(comma-separated exact origins, e.g. CORS_ORIGINS=%s)",
            origin,
            ",".join([*sorted(self.listed), origin[:200]]),
        )


def own_origin(scheme: str, host: str) -> str:
    """The service's own origin as a request reached it (its page /console calls it so)."""
    return f"{scheme}://{host}"
