"""The connection layer under the app: how much of a worker a client can hold, and what it must
send to be heard at all (`todo-api serve` runs Sanic with GuardedProtocol).

Sanic's own request timer starts again on every byte received, so a client sending a header
line every few seconds, or a byte a second of its body, kept its connection as long as it
liked; and nothing capped the connections one client held. Here:

- A request's head (request line and headers) must arrive whole within REQUEST_HEAD_TIMEOUT,
  counted from the connection's opening for its first request and from its first byte for each
  later one (the wait between requests is the keep-alive timeout's). Past it: 408, and the
  connection closed; closed without a word if not a byte came (nothing was asked).
- A body must arrive whole within REQUEST_BODY_TIMEOUT of the end of its head: 408, closed.
- A client holds at most settings.client_connections open connections in a worker; past it a
  new connection is closed as it arrives, before a byte is read. The cap counts TCP peers (an
  IPv6 one by its /64, as the login limits do): a connection's cost is paid by the worker
  before any request names a client, and a slow client never completes the head whose
  X-Forwarded-For would name it. Behind a proxy (PROXIES_COUNT) every peer is the proxy, so
  the cap is off unless set, and the proxy's own limits (nginx's limit_conn and
  client_header_timeout) stand in front.
- A head is read as RFC 9110 and 9112 say, anything else a 400 and the connection closed: each
  field name a token directly followed by its colon (no `Content-Length : 5`, no obs-fold line),
  no control character but HTAB (no NUL, no bare CR or LF), exactly one Host in HTTP/1.1, and
  Content-Length and chunk sizes in ASCII digits (int() also reads Arabic-Indic digits).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sanic.exceptions import BadRequest, RequestTimeout
from sanic.http import Http, Stage
from sanic.server.protocols.http_protocol import HttpProtocol

from server.clients import client_of
from server.errors import ApiError

TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # RFC 9110 §5.6.2
NOT_A_FIELD = re.compile(rb"\r\n(?!" + TOKEN + rb":)")  # a line that is not `name:...`
# What a head may hold besides its CR LF line ends: HTAB, SP, visible ASCII and obs-text.
FIELD_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
DECIMAL = re.compile(r"[0-9]+")
HEXADECIMAL = re.compile(r"[0-9A-Fa-f]+")
WHITESPACE = " \t"  # OWS, and BWS before a chunk extension
# The one route with a larger body limit (for the bearer of its account's token only).
IMPORT_PATH = re.compile(r"/api/([^/]+)/import")


def head_problem(head: bytes) -> str | None:
    """Why a request head (without its final CRLF CRLF) is malformed, or None."""
    controls = head.translate(None, FIELD_BYTES)  # what is left: only the lines' CR LF
    line_ends = head.count(b"\r\n")
    if len(controls) != 2 * line_ends or controls != b"\r\n" * line_ends:
        return "A header holds a control character (NUL, a bare CR or LF, ...)."
    if NOT_A_FIELD.search(head):
        return "Each header line must be a name directly followed by a colon."
    return None


class StrictHttp(Http):
    """Sanic's HTTP/1.1 reader, strict as above, telling its connection when each head began
    and when its body is due."""

    protocol: GuardedProtocol

    async def http1_request_header(self) -> None:
        protocol = self.protocol
        protocol.head_began()
        try:
            await super().http1_request_header()
            problem = self._problem()
            if problem is not None:
                raise BadRequest(problem)
        except Exception:
            # No body of a refused head is read (Sanic would try to drain one whose length it
            # could not read): the connection closes after the answer.
            self.request_body = None
            raise
        protocol.body_due = protocol.loop.time() + protocol.body_timeout
        self.request_max_size = protocol.body_limit(self.request)

    def _problem(self) -> str | None:
        request = self.request
        hosts = len(request.headers.getall("host", []))
        if hosts != 1 and (hosts or request.version == "1.1"):
            return "A request names one Host (an HTTP/1.0 one may name none)."
        return head_problem(request.head)

    @staticmethod
    def _safe_int(value: str, base: int = 10) -> int:
        """A Content-Length (base 10) or a chunk size (16), in ASCII digits only."""
        digits = value.strip(WHITESPACE)
        if not (HEXADECIMAL if base == 16 else DECIMAL).fullmatch(digits):
            raise ValueError("not a length")
        return int(digits, base)


class GuardedProtocol(HttpProtocol):
    """Sanic's HTTP/1.1 connection with the per-client cap and the time limits, kept by one
    timer per connection (`_watch`) rather than one per request: a timer set and cancelled
    around every head and every read of a body cost more than the head's checks."""

    HTTP_CLASS = StrictHttp
    __slots__ = (
        "body_due",
        "body_timeout",
        "client",
        "head_due",
        "head_timeout",
        "heard",
        "watch",
    )

    def body_limit(self, request: Any) -> int:
        """The largest body this request may send (past it, 413 and closed): the import's
        limit only with a valid access token of the path's account (checked again as the route
        runs); anyone else's body is held to the usual limit, so a client without an account
        cannot make the worker hold 32 MiB per connection."""
        settings = self.app.ctx.settings
        found = IMPORT_PATH.fullmatch(request.path)
        if found is not None:
            try:
                self.app.ctx.gate.caller(request.headers.get("authorization"), found[1])
            except ApiError:
                return settings.max_body_bytes
            return settings.import_max_bytes
        return settings.max_body_bytes

    def connection_made(self, transport: Any) -> None:
        settings = self.app.ctx.settings
        self.client: str | None = None
        self.watch: asyncio.TimerHandle | None = None
        if not self._admit(transport, settings.client_connections):
            transport.close()
            return
        super().connection_made(transport)
        self.head_timeout = settings.request_head_timeout
        self.body_timeout = settings.request_body_timeout
        self.heard = False  # whether a byte of a request has come yet
        self.head_due = self.loop.time() + self.head_timeout  # the first head's, from now
        self.body_due = 0.0
        self.watch = self.loop.call_at(self.head_due, self._watch)

    def _admit(self, transport: Any, limit: int) -> bool:
        """Count the connection against its client's cap; False when that is used up."""
        peer = transport.get_extra_info("peername")
        if not limit or not isinstance(peer, tuple):  # no cap, or a Unix socket's peer
            return True
        client = client_of(str(peer[0]))
        counts = self.app.ctx.connections
        if counts[client] >= limit:
            if self.app.ctx.metrics is not None:
                self.app.ctx.metrics.connections_refused.inc()
            return False
        counts[client] += 1
        self.client = client
        return True

    def head_began(self) -> None:
        """A head is arriving: the first one is due as the connection opened plus the limit,
        each later one its first byte plus the limit."""
        if self.heard:
            self.head_due = self.loop.time() + self.head_timeout
        self.heard = True

    def _watch(self) -> None:
        """Cut off what has not arrived in time: a connection that never spoke is closed, a
        late head or body is answered 408 (Sanic answers the exception of a cancelled
        connection) and closed. Otherwise look again when that limit falls due, or, with
        nothing arriving, after the shorter limit: a head or body beginning meanwhile is due
        no sooner, so no request needs to set a timer of its own."""
        http = self._http
        if http is None or self._task is None:
            return
        now = self.loop.time()
        late = None
        if not self.heard:
            if now >= self.head_due:
                self.close()  # nothing was asked: nothing to answer
                return
            due = self.head_due
        elif http.stage is Stage.REQUEST and http.request is None:
            due, late = self.head_due, "The request head did not arrive in time."
        elif http.request_body:
            due, late = self.body_due, "The request body did not arrive in time."
        else:
            due = now + min(self.head_timeout, self.body_timeout)
        if late is not None and now >= due:
            http.keep_alive = False
            http.request_body = None
            http.exception = RequestTimeout(late)
            self._task.cancel()
            return
        self.watch = self.loop.call_at(due, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.watch is not None:
            self.watch.cancel()
        if self.client is not None:
            counts = self.app.ctx.connections
            counts[self.client] -= 1
            if counts[self.client] <= 0:
                del counts[self.client]
            self.client = None
        if self.conn_info is None:  # refused as it arrived: Sanic never saw it
            return
        super().connection_lost(exc)
