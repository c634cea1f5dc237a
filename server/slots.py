"""Work a worker does a few at a time because each holds much memory while it is made: an
export's document, a calendar feed's text.

One at a time per key (an account, a feed): another request of that key meanwhile is refused at
once (`busy`: a 503 with Retry-After), being the same work again. `size` at once in all: a
request past that waits its turn, first come first served, for at most `wait` seconds (then
`busy`), before it reads anything. The work is read on the event loop, then made on a thread;
its slot is held until what was made is used (the answer sent: a large one is sent a part at a
time, server/contract/reply.py), or, if the request is gone before, until the thread is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from server.errors import ServiceUnavailable

T = TypeVar("T")
Read = TypeVar("Read")


class Slots:
    def __init__(self, size: int, wait: float, busy: Callable[[], ServiceUnavailable]) -> None:
        self.wait, self.busy = wait, busy
        self.taken: set[str] = set()  # keys holding a slot, or waiting for one
        self._room = asyncio.Semaphore(size)

    async def run(
        self,
        key: str,
        read: Callable[[], Awaitable[Read]],
        make: Callable[[Read], T],
        until: list[Callable[[], None]],
    ) -> T:
        """make(await read()) on a thread, in a slot of `key`, given back by whoever runs
        `until` once what was made is used (the pipeline, when the answer is sent: the
        request's `when_sent`)."""
        await self._take(key)
        try:
            found = await read()
            made = asyncio.ensure_future(asyncio.to_thread(make, found))
        except BaseException:
            self._give_back(key)
            raise
        try:
            value = await asyncio.shield(made)
        except BaseException:  # the thread failed, or the request is gone: when it is done
            made.add_done_callback(lambda _: self._give_back(key))
            raise
        until.append(lambda: self._give_back(key))
        return value

    async def _take(self, key: str) -> None:
        if key in self.taken:
            raise self.busy()
        self.taken.add(key)
        try:
            async with asyncio.timeout(self.wait):
                await self._room.acquire()
        except TimeoutError:
            self.taken.discard(key)
            raise self.busy() from None
        except BaseException:
            self.taken.discard(key)
            raise

    def _give_back(self, key: str) -> None:
        self.taken.discard(key)
        self._room.release()
