"""openapi-core, the validator of record, run off the event loop and admitted, not queued.

The compiled plans (fastpath.py) decide nearly every request and reply in microseconds. What
they leave to openapi-core, it decides by walking the operation's contract in Python: 20 to 30
ms for list_tasks' 15 parameters. On the event loop, nothing else of the worker would run
meanwhile, and any client could send such requests one after another. So openapi-core runs on
a thread of its own in each worker, and at most `size` requests wait for it or run on it, a
client (server/clients.py) at most a quarter of them: past either, the request is refused at
once (503 with Retry-After) rather than queued. A reply the plan cannot vouch for is checked on
the same thread and never refused: its work is done, and such replies are the service's own
and rare. The thread takes turns with the loop for the interpreter, so while it works the loop
waits at most a switch interval (5 ms) for its turn instead of the whole validation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.errors import ServiceUnavailable

T = TypeVar("T")
QUEUE_SIZE = 8  # requests per worker waiting for openapi-core or on it


class ValidationBusy(ServiceUnavailable):
    slug = "validation-busy"
    default_detail = "Too many unusual requests are waiting to be validated; retry shortly."


class Fallback:
    def __init__(
        self,
        size: int = QUEUE_SIZE,
        busy: type[ServiceUnavailable] = ValidationBusy,
        name: str = "openapi-core",
    ) -> None:
        self.size, self.per_client, self.busy = size, max(1, size // 4), busy
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.held: Counter[str] = Counter()  # client -> its requests not yet done on the thread

    async def request(self, client: str, check: Callable[..., T], *args: object) -> T:
        """check(*args) on the thread, or ValidationBusy at once. Its place is held until the
        thread is done with it, even if the request is gone by then."""
        if self.held[client] >= self.per_client or self.held.total() >= self.size:
            raise self.busy(1)
        self.held[client] += 1
        done = asyncio.get_running_loop().run_in_executor(self.executor, check, *args)
        done.add_done_callback(lambda _: self._release(client))
        return await asyncio.shield(done)

    async def reply(self, check: Callable[..., T], *args: object) -> T:
        """check(*args) on the thread, after what waits for it."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, check, *args)

    def _release(self, client: str) -> None:
        self.held[client] -= 1
        if not self.held[client]:
            del self.held[client]

    def close(self) -> None:
        self.executor.shutdown(wait=False)
