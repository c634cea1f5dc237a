"""One JSON object per log line, for requests and errors alike."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import math
import re
import sys
import time
from typing import Any, TextIO

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
ACCESS = "todo_api.access"  # the logger of the one line per request
access_log = logging.getLogger(ACCESS)

# The last second formatted, one tuple (threads log too): strftime once a second, not a line.
_stamp: tuple[int, str] = (-1, "")


def json_line(created: float, level: str, logger: str, msg: str, fields: dict[str, Any]) -> str:
    """`{"ts", "level", "logger", "msg", **fields}` as one line of JSON (no newline)."""
    global _stamp  # a cache of the last second's text
    second = int(created)
    stamp = _stamp
    if stamp[0] != second:
        stamp = _stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    line = {
        "ts": f"{stamp[1]}.{int((created - second) * 1000):03d}Z",
        "level": level,
        "logger": logger,
        "msg": msg,
        **fields,
    }
    return orjson.dumps(line, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        line = json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(), fields
        )
        return redacted(line)


# A calendar feed's secret (server/feeds/handlers.py), wherever a line would carry it: the
# access line writes the path template, but Sanic's own lines write a request's URL (a client
# that went away mid-request: "Request: GET http://.../calendar/tdc_... stopped").
FEED_SECRET = re.compile(r"tdc_[A-Za-z0-9_-]{43}")


def redacted(line: str) -> str:
    return FEED_SECRET.sub("tdc_<secret>", line) if "tdc_" in line else line


# Under load, access lines wait at most this long to leave together (seconds).
GATHER_SECONDS = 0.02
# Bytes: a write to a pipe of at most PIPE_BUF (4096 on Linux) is never cut into by another
# process's (the workers of `todo-api serve` share one stdout), so no write is larger unless a
# single line is.
WRITE_LIMIT = 4096


def utf8_size(text: str) -> int:
    """Bytes of `text` as written (an ASCII text, every access line but a rare one, is not
    encoded to be counted)."""
    return len(text) if text.isascii() else len(text.encode())


class LoopFlushedHandler(logging.StreamHandler[TextIO]):
    """Writes lines together, with one write and one flush (the stream may be unbuffered:
    PYTHONUNBUFFERED, common in containers, makes every write a system call), each write at
    most WRITE_LIMIT bytes. A line is out by the end of the event loop's turn that logged it,
    but for access lines under load: within GATHER_SECONDS of the last write they wait for the
    rest of that span, so the access lines of the requests answered in it leave together (a
    write per turn, about one a request, cost a GET 2-3% of its throughput). Outside the loop's
    thread, and for warnings and errors, it writes at once (with whatever had gathered before,
    so lines keep their order); what is still gathered when the process exits is written
    then."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        # Lines, and access lines still to be formatted (their time and fields): formatted
        # together as they are written, a loop over many lines instead of a line in every
        # request, where the same code cost several times as much (issue 29).
        self._pending: list[str | tuple[float, dict[str, Any]]] = []
        self._pending_bytes = 0
        self._due_on: asyncio.AbstractEventLoop | None = None  # the loop a write is due on
        self._written_at = -math.inf  # time.monotonic() of the last write
        atexit.register(self._write_pending)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line, at_once=record.levelno >= logging.WARNING, gather=False)

    def write_line(self, line: str, at_once: bool = False, gather: bool = True) -> None:
        """`gather`: an access line, which may wait for the span's end (not a line that tells
        of a start, a stop or a fault: a worker killed meanwhile would lose it)."""
        text = line + self.terminator
        size = utf8_size(text)
        with self.lock or contextlib.nullcontext():
            if self._pending_bytes + size > WRITE_LIMIT:
                self._write_pending()
            self._pending.append(text)
            self._pending_bytes += size
            self._schedule(at_once, gather)

    def write_access(self, created: float, fields: dict[str, Any]) -> None:
        """The access line of `fields` logged at `created`, formatted when it is written."""
        with self.lock or contextlib.nullcontext():
            self._pending.append((created, fields))
            self._schedule(False, True)

    def _schedule(self, at_once: bool, gather: bool) -> None:
        """The pending lines' write: now, at the end of this turn, or at the span's end."""
        if not at_once:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                if not gather:
                    loop.call_soon(self._write_pending)
                elif self._due_on is not loop:  # (a loop that closed ran none of it)
                    self._due_on = loop
                    wait = self._written_at + GATHER_SECONDS - time.monotonic()
                    if wait > 0:
                        loop.call_later(min(wait, GATHER_SECONDS), self._due, loop)
                    else:
                        loop.call_soon(self._due, loop)
                return
        self._write_pending()

    def _due(self, loop: asyncio.AbstractEventLoop) -> None:
        """The span's write: only it disarms (a write made at once meanwhile leaves it due), and
        only its own loop's."""
        with self.lock or contextlib.nullcontext():
            if self._due_on is loop:
                self._due_on = None
            self._write_pending()

    def _write_pending(self) -> None:
        with self.lock or contextlib.nullcontext():
            if not self._pending:
                return
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            self._written_at = time.monotonic()
            writes: list[str] = []  # each at most WRITE_LIMIT bytes (or one longer line)
            lines: list[str] = []
            size = 0
            for item in pending:
                text = item if isinstance(item, str) else _access_line(*item) + self.terminator
                text_size = utf8_size(text)
                if lines and size + text_size > WRITE_LIMIT:
                    writes.append("".join(lines))
                    lines, size = [], 0
                lines.append(text)
                size += text_size
            writes.append("".join(lines))
            with contextlib.suppress(OSError, ValueError):  # the stream closed meanwhile
                for text in writes:
                    self.stream.write(text)
                self.flush()


_access_handler: LoopFlushedHandler | None = None  # where configure_logging sent todo_api
_todo_api = logging.getLogger("todo_api")


def log_access(fields: dict[str, Any]) -> None:
    """The access line of one request: logger todo_api.access, INFO, "request", with `fields`.

    While the line would reach the handler configure_logging set up (`todo-api serve`) and no
    other, it is written to that handler as its formatter would write it, without a LogRecord:
    the logging machinery's record, filters and handler calls cost a sixth of a GET's time.
    Otherwise (an app built by a test, with pytest's handlers added, or embedded elsewhere) it
    goes through logging as any line does."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    handler = _access_handler
    if handler is not None and not access_log.handlers and _todo_api.handlers == [handler]:
        handler.write_access(time.time(), fields)
    else:
        access_log.info("request", extra=fields)


def _access_line(created: float, fields: dict[str, Any]) -> str:
    """The access line of `fields`, logged at `created`, as JsonFormatter would write it (cut
    to fit one write)."""
    line = redacted(json_line(created, "info", ACCESS, "request", fields))
    if utf8_size(line) >= WRITE_LIMIT:  # with its newline, more than one write holds
        line = redacted(json_line(created, "info", ACCESS, "request", _cut(fields)))
    return line


CUT_CHARS = 64  # a text of an access line too long for one write keeps this many characters


def _cut(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of an access line too long to leave in one write (a client chooses its path
    up to Sanic's 8 KB head, and behind a proxy its forwarded address): each longer text cut to
    CUT_CHARS characters, and `cut` set. A line cut into by another worker's write would lose
    both (a few long requests would hide the log's other lines)."""
    cut = {
        key: value[:CUT_CHARS] + "…" if isinstance(value, str) and len(value) > CUT_CHARS else value
        for key, value in fields.items()
    }
    return {**cut, "cut": True}


def configure_logging(level: int = logging.INFO) -> None:
    global _access_handler  # the process's one handler of its JSON lines
    # What the JSON lines never show is not collected (the logging HOWTO's "Optimization").
    logging._srcfile = None  # no caller's file and line
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = LoopFlushedHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("todo_api", "sanic.root", "sanic.error", "sanic.server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    _access_handler = handler
