"""Work a worker does a few at a time because each holds much memory: an export's document, a
calendar feed's text, while it is made (a document of 50,000 tasks: some 180 MB at its peak)
and, made, until it is sent (its 22 MB).

- One at a time per key (an account, a feed), from the request's start until its answer is
  sent, or the request is gone and its thread done: another request of that key meanwhile is
  refused at once (`busy`: a 503 with Retry-After), being the same work again.
- `size` made at once in all: a request past that waits its turn, first come first served, for
  at most `wait` seconds (then `busy`), before it reads anything. Its turn ends with its thread.
- At most `unsent` bytes made and not sent yet, and `per_client` answers made and not sent yet
  of one client (its address, server/clients.py): past either a request waits too, within the
  same `wait`, and again if they filled while it waited its turn. A client too slow to take an
  answer is cut off (server/contract/pace.py), so its bytes go.
- While the bytes are full and a request has waited half its `wait` for them (its own client's
  count not being what holds it), the slowest reader that has taken less than SLOWER_THAN bytes
  a second over its first JUDGED_AFTER seconds or more is cut off, one at a time: a few slow
  readers (some on the floor's 26 KB/s) no longer keep every other large answer waiting until
  it is refused. Readers faster than that still can (findings-s42-evict.md M1): a proxy that
  buffers (README: nginx) takes such answers off the worker.

A slow reader holds its own key and its own bytes, never another request's turn to be made."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Protocol, TypeVar

from server.errors import ServiceUnavailable

Read = TypeVar("Read")
SLOWER_THAN = 100_000  # bytes/s: a reader cut off for a waiting request (some 4x the floor's)
JUDGED_AFTER = 5.0  # seconds of sending before a reader's pace is judged
LOOK_AGAIN = 1.0  # seconds: a request waiting for bytes looks at the readers' paces this often


class Reader(Protocol):  # a large answer's client as it reads (server/contract/pace.py)
    cut: bool

    def age(self) -> float: ...
    def rate(self) -> float: ...
    def cut_off(self) -> None: ...


class Answer(Protocol):  # what a request holds of its answer (server/contract/context.py)
    when_sent: list[Callable[[], None]]

    @property
    def pace(self) -> Reader | None: ...


class Slots:
    def __init__(
        self,
        size: int,
        wait: float,
        unsent: int,
        per_client: int,
        busy: Callable[[], ServiceUnavailable],
    ) -> None:
        self.wait, self.unsent, self.per_client, self.busy = wait, unsent, per_client, busy
        self.taken: set[str] = set()  # keys being made, waiting to be, or being sent
        self.held = 0  # bytes made and not sent yet
        self.sending: Counter[str] = Counter()  # answers made and not sent yet, by client
        self.answers: dict[str, Answer] = {}  # made and not sent yet, by key
        self._room = asyncio.Semaphore(size)
        self._sent_one = asyncio.Event()  # set as an answer's bytes are let go

    async def run(
        self,
        key: str,
        client: str,
        read: Callable[[], Awaitable[Read]],
        make: Callable[[Read], bytes],
        answer: Answer,
    ) -> bytes:
        """make(await read()) on a thread, in a turn; `key`, and the bytes made as `client`'s,
        are let go by whoever runs the answer's `when_sent` once they are sent (the pipeline)."""
        await self._take(key, client)
        try:
            found = await read()
            made = asyncio.ensure_future(asyncio.to_thread(make, found))
        except BaseException:
            self._unmade(key)
            raise
        try:
            body = await asyncio.shield(made)
        except BaseException:  # the thread failed, or the request is gone: when it is done
            made.add_done_callback(lambda _: self._unmade(key))
            raise
        self.held += len(body)  # counted before the next turn looks
        self.sending[client] += 1
        self.answers[key] = answer
        self._room.release()
        answer.when_sent.append(lambda: self._sent(key, client, len(body)))
        return body

    def _unmade(self, key: str) -> None:
        """The turn and the key of work that made nothing (its read or its thread failed, or
        its request is gone)."""
        self._room.release()
        self.taken.discard(key)

    def _sent(self, key: str, client: str, size: int) -> None:
        self.taken.discard(key)
        del self.answers[key]
        self.held -= size
        self.sending[client] -= 1
        if not self.sending[client]:
            del self.sending[client]
        self._sent_one.set()

    def _full(self, client: str) -> bool:
        return self.held >= self.unsent or self.sending[client] >= self.per_client

    async def _take(self, key: str, client: str) -> None:
        if key in self.taken:
            raise self.busy()
        self.taken.add(key)
        try:
            async with asyncio.timeout(self.wait):
                await self._turn(client)
        except TimeoutError:
            self.taken.discard(key)
            raise self.busy() from None
        except BaseException:
            self.taken.discard(key)
            raise

    async def _turn(self, client: str) -> None:
        """A turn, once the bytes and the client's answers unsent leave room (a reader too slow
        is cut off); looked at again once the turn comes, others' having filled them meanwhile."""
        clock = asyncio.get_running_loop().time
        cut_from = clock() + self.wait / 2
        while True:
            while self._full(client):
                self._sent_one.clear()
                now = clock()
                if now >= cut_from and self.sending[client] < self.per_client:
                    self._cut_the_slowest()
                look = LOOK_AGAIN if now >= cut_from else min(LOOK_AGAIN, cut_from - now)
                with suppress(TimeoutError):
                    async with asyncio.timeout(look):
                        await self._sent_one.wait()
            await self._room.acquire()
            if not self._full(client):
                return
            self._room.release()

    def _cut_the_slowest(self) -> None:
        """The slowest reader judged too slow, cut off, unless one cut off is still going."""
        readers = [answer.pace for answer in self.answers.values() if answer.pace is not None]
        if any(reader.cut for reader in readers):
            return
        judged = [(r.rate(), r) for r in readers if r.age() >= JUDGED_AFTER]
        slow = [(rate, reader) for rate, reader in judged if rate < SLOWER_THAN]
        if slow:
            min(slow, key=lambda pair: pair[0])[1].cut_off()
