"""Development without SMTP_URL: each mail is written as an .eml file under DATA_DIR/mail/ (off
the event loop) and its subject, recipient and file are logged, so `make run` shows every mail
and its links without a mail server."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger("todo_api")
UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


class FileTransport:
    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "mail"

    async def send(self, message: EmailMessage) -> None:
        path = await asyncio.to_thread(self._write, message)
        log.info(
            "mail written to %s: %s (to %s)",
            path,
            message["Subject"],
            message["To"],
            extra={"mail_file": str(path)},
        )

    def _write(self, message: EmailMessage) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = UNSAFE.sub("-", str(message["Message-ID"]).strip("<>"))
        path = self.folder / f"{name}.eml"
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, path)  # a reader never sees half a file; a resend overwrites
        return path

    async def close(self) -> None:
        pass
