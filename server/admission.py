"""Blocking work (bcrypt's, server/accounts/passwords.py), admitted rather than queued without
bound.

The work runs on a few dedicated threads, never on the event loop. It waits in one queue per
client (an address, or an IPv6 /64) and the threads take turns among the clients that are
waiting (the one with the fewest turns goes next), so a flood from one address delays another
address's login by a few hashes at most.
A client may hold at most a quarter of `queue_size` admissions, and the whole queue at most
`queue_size`: past either, the request is refused at once (`refusal`, a 503 with Retry-After),
before any other work, instead of making everyone wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from server.errors import ServiceUnavailable

T = TypeVar("T")
Job = tuple[Callable[[], Any], "asyncio.Future[Any]"]


class Admission:
    """One admitted request's blocking work: its jobs wait their client's turn."""

    def __init__(self, queue: AdmissionQueue, client: str) -> None:
        self.queue, self.client = queue, client

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) on one of the queue's threads, when this client's turn comes."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue._wait(self.client, (partial(fn, *args), future))
        return await future


class AdmissionQueue:
    def __init__(self, threads: int, queue_size: int, refusal: type[ServiceUnavailable]) -> None:
        self.threads, self.refusal = threads, refusal
        self.queue_size, self.per_client = queue_size, max(1, queue_size // 4)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="admitted")
        self._waiting: dict[str, deque[Job]] = {}  # client -> its waiting jobs, oldest first
        self._held: dict[str, int] = {}  # client -> admissions not yet over
        self._turns: dict[str, int] = {}  # client -> jobs started while it held any
        self._running = 0

    @property
    def depth(self) -> int:
        """Admissions not yet over (their jobs waiting, running, or still to come)."""
        return sum(self._held.values())

    @asynccontextmanager
    async def admitted(self, client: str) -> AsyncIterator[Admission]:
        """A place in the queue for one request's blocking work, or `refusal` at once. Taken
        before any other work of the request (its database round trips included), so a refused
        request costs next to nothing."""
        held = self._held.get(client, 0)
        if held >= self.per_client or self.depth >= self.queue_size:
            raise self.refusal(1)
        self._held[client] = held + 1
        try:
            yield Admission(self, client)
        finally:
            self._release(client)

    def _wait(self, client: str, job: Job) -> None:
        self._waiting.setdefault(client, deque()).append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand each free thread the next job of the waiting client that has had the fewest
        turns since it last had nothing admitted (the longest-waiting first among equals)."""
        loop = asyncio.get_running_loop()
        while self._running < self.threads and self._waiting:
            client = min(self._waiting, key=lambda waiting: self._turns.get(waiting, 0))
            jobs = self._waiting[client]
            work, future = jobs.popleft()
            if not jobs:
                del self._waiting[client]
            if future.done():  # its request went away while it waited
                continue
            self._turns[client] = self._turns.get(client, 0) + 1
            self._running += 1
            running = loop.run_in_executor(self.executor, work)
            running.add_done_callback(partial(self._finished, future))

    def _finished(self, future: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
        self._running -= 1
        if not future.done():
            if done.exception() is not None:
                future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                future.set_result(done.result())
        self._dispatch()

    def _release(self, client: str) -> None:
        left = self._held[client] - 1
        if left:
            self._held[client] = left
        else:
            del self._held[client]
            self._turns.pop(client, None)

    def close(self) -> None:
        self.executor.shutdown(wait=False)
