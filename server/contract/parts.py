"""An answer too large to hand over at once (an export, a calendar feed, a large page): sent a
PART at a time as its client takes it, with its Content-Length, for as long as the client takes
enough of it (server/contract/pace.py) and the access it was read under holds.

The access is asked before the head (ended: the refusal a request would now get, if any: a page
read while its list was shared is sent and cut off), every
RECHECK_SECONDS while the parts go, and once more before the last part, which waits until
the client has taken the rest (at most TAKEN_WAIT): an answer whose access ended is not made
whole by the kernel's buffers having taken it. A cut resets the connection, dropping what the
kernel still holds for the client. nginx, whose buffering is off for the event streams, takes
such an answer at once and serves a slow client itself (X-Accel-Buffering, which it does not
pass on): what it took, it serves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sanic.exceptions import RequestCancelled
from sanic.http import Stage

from server.contract.pace import Pace, cut
from server.contract.reply import AccessEnded, Allowed, Reply
from server.errors import DATABASE_DOWN, ApiError

log = logging.getLogger("todo_api")
# A client that takes less than a PART in PART_SECONDS (some 26 KB/s) is cut off: a body stays
# in memory until it is sent.
PART = 256 * 1024
PART_SECONDS = 10
# The access an answer was read under is asked again this often while it is sent: a session, an
# account or a feed ended meanwhile cuts it off.
RECHECK_SECONDS = 2
TAKEN_LOOK = 0.05  # seconds: how often the last part looks whether the client took the rest
TAKEN_WAIT = 10  # seconds the last part waits for it at most (then the access is asked anyway)


class Held:
    """An answer's access, asked of `allowed` (None: nothing to ask) once RECHECK_SECONDS have
    passed since it was last known, or when forced. A check that cannot tell ends nothing: the
    answer goes on and is asked again, and that is logged once per answer."""

    def __init__(self, allowed: Allowed | None) -> None:
        self.allowed = allowed
        self.clock = asyncio.get_running_loop().time
        self._at, self._told = self.clock(), False

    async def refusal(self) -> ApiError | None:
        """Before the head: what the request is answered instead if the access ended."""
        try:
            await self.check(force=True)
        except AccessEnded as ended:
            return ended.refusal
        return None

    async def check(self, force: bool = False) -> None:
        """AccessEnded once the access has ended."""
        if self.allowed is None or (not force and self.clock() - self._at < RECHECK_SECONDS):
            return
        self._at = self.clock()
        try:
            await self.allowed()
        except DATABASE_DOWN as exc:  # it cannot tell: no connection free in time, no database
            if not self._told:
                log.warning("a large answer's access could not be checked: %r", exc)
                self._told = True


async def send_in_parts(request: Any, reply: Reply, data: bytes, held: Held) -> None:
    """Send `data`, the reply's body as encoded (and checked), a PART at a time; the client is
    cut off once it took less than a PART in PART_SECONDS, once the access has ended, or for
    another's need (server/slots.py)."""
    head = reply.response(b"")
    head.headers["content-length"] = str(len(data))
    head.headers["x-accel-buffering"] = "yes"  # nginx in front takes it at once, buffered
    response = await request.respond(head)
    pace = request.ctx.pace = Pace(request.transport, PART, PART_SECONDS, held.clock)
    last = (len(data) - 1) // PART * PART
    try:
        for start in range(0, len(data), PART):
            part = data[start : start + PART]
            if start == last:
                await _taken_all(pace, held)
                await held.check(force=True)
            await _paced(partial(response.send, part), pace, held, len(part))
        await _paced(response.eof, pace, held, 0)
    except TimeoutError:
        _given_up(request, "it took less than a part in PART_SECONDS")
        raise RequestCancelled() from None
    except AccessEnded as ended:
        _given_up(request, f"its access ended ({ended})")
        raise RequestCancelled() from None
    except BaseException:  # the client is gone, the send failed, or cut for another's need
        _given_up(request, "for an answer waiting for room" if pace.cut else "")
        raise


def _given_up(request: Any, why: str) -> None:
    """The connection reset, and nothing more to answer on it: without the stage, a client
    gone before the first part made Sanic answer its error on the head already given (the
    Content-Length of the whole body), and log that with its traceback."""
    cut(request.transport)
    request.stream.stage = Stage.FAILED
    if why:
        log.info("%s: a large answer cut off: %s", request.logged_path, why)


async def _taken_all(pace: Pace, held: Held) -> None:
    """Once the client has taken all that was written, or TAKEN_WAIT has passed (AccessEnded
    meanwhile). Not longer: nothing is written while it waits, and Sanic ends a handler that
    writes nothing for RESPONSE_TIMEOUT (60 s; a 40 KB/s reader of the kernel's 4 MB took
    longer); nor is the client's pace judged here (less than a PART is left to take)."""
    until = pace.clock() + TAKEN_WAIT
    while pace.taken() < pace.written and pace.clock() < until:
        await held.check()
        await asyncio.sleep(TAKEN_LOOK)


async def _paced(sending: Callable[[], Awaitable[None]], pace: Pace, held: Held, size: int) -> None:
    """Send `size` bytes (`sending()`), looking at the client's pace and the answer's access
    while it waits (TimeoutError: too slow; AccessEnded)."""

    async def counted() -> None:  # written as the transport takes it (Sanic waits, then writes)
        await sending()
        pace.wrote(size)

    sent = asyncio.ensure_future(counted())
    try:
        while not (await asyncio.wait((sent,), timeout=min(1.0, PART_SECONDS / 4)))[0]:
            if pace.too_slow():
                raise TimeoutError
            await held.check()
        sent.result()
    finally:
        sent.cancel()  # still waiting: too slow, the access ended, or the request is gone
