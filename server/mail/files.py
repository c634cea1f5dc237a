"""Development without SMTP_URL: each mail is written as an .eml file under DATA_DIR/mail/ (off
the event loop) and its subject, recipient, file and link are logged, so `make run` shows every
mail and its links without a mail server. The link is logged as the mail's reader sees it: in
the file, quoted-printable writes a token's `=` as `=3D` and breaks long lines with `=`, so a
link copied from the .eml's raw text would not work."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from email.message import EmailMessage
from pathlib import Path

log = logging.getLogger("todo_api")
UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
LINK = re.compile(r"https?://\S+\?token=\S+")


class FileTransport:
    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "mail"

    async def send(self, message: EmailMessage) -> None:
        path = await asyncio.to_thread(self._write, message)
        text = message.get_body(preferencelist=("plain",))
        link = LINK.search(text.get_content()) if isinstance(text, EmailMessage) else None
        log.info(
            "mail written to %s: %s (to %s)%s",
            path,
            message["Subject"],
            message["To"],
            f"; its link: {link[0]}" if link else "",
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
