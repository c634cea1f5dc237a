"""A reader's pace: how much of an answer the client has taken, as its side acknowledged it.

A writer's waits say little of it: the transport wakes a writer only once the kernel's send
buffer (up to 4 MB here) has drained far, so a steady reader of 100 KB/s let a writer wait
longer than 10 s between two parts. What the client has taken is what was written, less what
still waits in the transport's buffer and in the kernel's send queue (Linux's TIOCOUTQ: the
bytes the client has not acknowledged; elsewhere the transport's buffer alone counts)."""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from collections.abc import Callable
from contextlib import suppress
from typing import Any


def cut(transport: Any) -> None:
    """Close the connection with a reset, dropping what the kernel still queues for it: a cut
    answer stops where its client is, not some MB later (a plain close delivers the queue)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def unacknowledged(transport: Any) -> int:
    """Bytes written to `transport` that its client has not acknowledged yet."""
    waiting: int = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is None:
        return waiting
    try:
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, bytes(4))
    except (OSError, ValueError):  # not a TCP socket, or closed meanwhile
        return waiting
    return waiting + int(struct.unpack("i", queued)[0])


class Pace:
    """Whether a client takes at least `least` bytes per `seconds` of an answer."""

    def __init__(
        self, transport: Any, least: int, seconds: float, clock: Callable[[], float]
    ) -> None:
        self.transport, self.least, self.seconds, self.clock = transport, least, seconds, clock
        self.written = 0  # bytes of the answer handed to the transport
        self.started = clock()
        self._mark, self._at = 0, self.started  # bytes taken when last `least` more were
        self.cut = False  # cut off by another's need (server/slots.py)

    def wrote(self, size: int) -> None:
        self.written += size

    def taken(self) -> int:
        """Bytes the client has taken (a part counts as written as it is handed over)."""
        return max(self.written - unacknowledged(self.transport), 0)

    def age(self) -> float:
        return self.clock() - self.started

    def rate(self) -> float:
        """Bytes per second the client has taken since the answer began."""
        return self.taken() / max(self.age(), 1e-3)

    def cut_off(self) -> None:
        """Close the connection: the answer's sender ends as if its client had left."""
        self.cut = True
        cut(self.transport)

    def too_slow(self) -> bool:
        """Whether the client took less than `least` bytes in the last `seconds`."""
        taken, now = self.taken(), self.clock()
        if taken - self._mark >= self.least:
            self._mark, self._at = taken, now
            return False
        return now - self._at > self.seconds
