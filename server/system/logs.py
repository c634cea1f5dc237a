"""One JSON object per log line, for requests and errors alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from typing import Any, TextIO

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    # The last second formatted, one tuple (threads log too): strftime once a second, not a line.
    _stamp: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        stamp = self._stamp
        if stamp[0] != int(record.created):
            second = int(record.created)
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        line: dict[str, Any] = {
            "ts": f"{stamp[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class LoopFlushedHandler(logging.StreamHandler[TextIO]):
    """Writes each line at once, and flushes the stream once per turn of the event loop rather
    than once per line: under load, the access lines of all the requests a turn answered leave
    in one write; when idle, a line is out by the end of the turn that logged it. Outside the
    loop's thread, and for warnings and errors, it flushes at once."""

    flush_pending = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self.flush_pending:
            self.flush_pending = True
            loop.call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self.flush_pending = False
        with contextlib.suppress(OSError, ValueError):  # the stream closed meanwhile (shutdown)
            self.flush()


def configure_logging(level: int = logging.INFO) -> None:
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
