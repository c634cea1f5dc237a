"""Password work, admitted rather than queued without bound.

bcrypt runs on a few dedicated threads, never on the event loop. Work waits in one queue per
client (an address, or an IPv6 /64) and the threads take turns among the clients that are
waiting, so a flood from one address delays another address's login by a few hashes at most.
A client may have at most a quarter of `queue_size` jobs waiting or running, and the whole
queue at most `queue_size`: past either, the work is refused at once (503 with Retry-After)
instead of making everyone wait.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import bcrypt

from server.accounts.security import check_password_blocking, hash_password_blocking
from server.errors import ServiceUnavailable

Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class HashingBusy(ServiceUnavailable):
    slug = "hashing-busy"
    default_detail = "Too much password work is waiting; retry shortly."


class PasswordHasher:
    def __init__(self, rounds: int, threads: int = 2, queue_size: int = 32) -> None:
        self.rounds, self.threads = rounds, threads
        self.queue_size, self.per_client = queue_size, max(1, queue_size // 4)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        self._waiting: OrderedDict[str, deque[Job]] = OrderedDict()  # client -> its jobs, in turn
        self._held: dict[str, int] = {}  # client -> jobs waiting or running
        self._running = 0
        # A well-formed hash of this cost that no password matches: checking against it costs
        # what a real check costs, and making it costs nothing.
        self._dummy = (bcrypt.gensalt(rounds) + b"A" * 31).decode()

    @property
    def depth(self) -> int:
        """Jobs admitted and not finished (waiting or running)."""
        return sum(self._held.values())

    async def hash(self, password: str, client: str) -> str:
        result: str = await self._submit(client, hash_password_blocking, password, self.rounds)
        return result

    async def verify(self, password: str, hashed: str | None, client: str) -> bool:
        """With no hash (unknown account) a dummy check runs, so timing reveals nothing."""
        matches = await self._submit(
            client, check_password_blocking, password, hashed or self._dummy
        )
        return bool(matches) and hashed is not None

    async def _submit(self, client: str, fn: Callable[..., Any], *args: Any) -> Any:
        held = self._held.get(client, 0)
        if held >= self.per_client or self.depth >= self.queue_size:
            raise HashingBusy(1)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._held[client] = held + 1
        self._waiting.setdefault(client, deque()).append((fn, args, future))
        self._dispatch()
        try:
            return await future
        finally:
            self._release(client)

    def _dispatch(self) -> None:
        """Hand free threads the next job of each waiting client in turn (round robin)."""
        loop = asyncio.get_running_loop()
        while self._running < self.threads and self._waiting:
            client, jobs = self._waiting.popitem(last=False)
            fn, args, future = jobs.popleft()
            if jobs:
                self._waiting[client] = jobs  # back of the line
            if future.done():  # its request went away while it waited
                continue
            self._running += 1
            running = loop.run_in_executor(self.executor, fn, *args)
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

    def close(self) -> None:
        self.executor.shutdown(wait=False)
