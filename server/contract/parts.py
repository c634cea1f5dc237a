"""An answer too large to hand over at once (an export, a calendar feed, a large page): sent a
PART at a time as its client takes it, with its Content-Length, for as long as the client takes
enough of it (server/contract/pace.py) and the access it was read under holds.

The kernel is let queue about a PART of it, not the 4 MB it grows to, and a cut resets the
connection: what the client had not taken when it was cut off is never sent. nginx, whose
buffering is off for the event streams, takes such an answer at once and serves a slow client
itself (X-Accel-Buffering, which it does not pass on): what it took, it serves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sanic.exceptions import RequestCancelled
from sanic.http import Stage

from server.contract.pace import Pace, cut, hold_little
from server.contract.reply import AccessEnded, Allowed, Reply
from server.errors import ApiError

log = logging.getLogger("todo_api")
# A client that takes less than a PART in PART_SECONDS (some 26 KB/s) is cut off: a body stays
# in memory until it is sent.
PART = 256 * 1024
PART_SECONDS = 10
# The access an answer was read under is asked again this often while it is sent (the pipeline
# asked it before the answer's head): a session, an account or a feed ended meanwhile cuts it off.
RECHECK_SECONDS = 2


async def refusal(allowed: Allowed | None) -> ApiError | None:
    """What a request is answered instead when the access its answer was read under ended
    before the answer's head; None while it holds, or when that cannot be told (it is asked
    again as the answer is sent)."""
    if allowed is None:
        return None
    try:
        await allowed()
    except AccessEnded as ended:
        return ended.refusal
    except Exception as exc:  # not known: sent, and asked again
        log.warning("a large answer's access could not be checked: %r", exc)
    return None


async def send_in_parts(request: Any, reply: Reply, data: bytes, allowed: Allowed | None) -> None:
    """Send `data`, the reply's body as encoded (and checked), a PART at a time, asking
    `allowed` every RECHECK_SECONDS; the client is cut off once it took less than a PART in
    PART_SECONDS, once the access has ended, or for another's need (server/slots.py)."""
    head = reply.response(b"")
    head.headers["content-length"] = str(len(data))
    head.headers["x-accel-buffering"] = "yes"  # nginx in front takes it at once, buffered
    hold_little(request.transport, PART)
    response = await request.respond(head)
    clock = asyncio.get_running_loop().time
    pace = request.ctx.pace = Pace(request.transport, PART, PART_SECONDS, clock)
    held = Held(allowed, RECHECK_SECONDS, clock)
    try:
        for start in range(0, len(data), PART):
            part = data[start : start + PART]
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


async def _paced(sending: Callable[[], Awaitable[None]], pace: Pace, held: Held, size: int) -> None:
    """Send `size` bytes (`sending()`) once the answer's access is known to hold or cannot be
    told, looking at the client's pace and the access while it waits (TimeoutError: too slow;
    AccessEnded)."""

    async def counted() -> None:  # written as the transport takes it (Sanic waits, then writes)
        await sending()
        pace.wrote(size)

    await held.check()
    sent = asyncio.ensure_future(counted())
    try:
        while not (await asyncio.wait((sent,), timeout=min(1.0, PART_SECONDS / 4)))[0]:
            if pace.too_slow():
                raise TimeoutError
            await held.check()
        sent.result()
    finally:
        sent.cancel()  # still waiting: too slow, the access ended, or the request is gone


class Held:
    """An answer's access, asked of `allowed` once `seconds` have passed since it was last
    known. A check that cannot tell (no connection free in time, PostgreSQL unreachable) ends
    nothing: it is asked again next time, and logged once."""

    def __init__(self, allowed: Allowed | None, seconds: float, clock: Callable[[], float]):
        self.allowed, self.seconds, self.clock = allowed, seconds, clock
        self._at, self._told = clock(), False

    async def check(self) -> None:
        if self.allowed is None or self.clock() - self._at < self.seconds:
            return
        self._at = self.clock()
        try:
            await self.allowed()
        except AccessEnded:
            raise
        except Exception as exc:  # not known: sent on, asked again
            if not self._told:
                log.warning("a large answer's access could not be checked: %r", exc)
                self._told = True
