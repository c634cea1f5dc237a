"""A comment as the contract's Comment, from any row holding its columns (COMMENT_COLUMNS of
server/db/queries.py): what the handlers answer and the change feed carries; and a comment's
text as it is stored, whoever writes it (a request, an import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.errors import UnprocessableContent

FIELDS = ("id", "task_id", "author", "body", "created_at", "updated_at", "version")
MAX_CHARACTERS = 5000  # Unicode code points, after trimming (the contract's CommentBody)


def comment_body(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in FIELDS}


def trimmed_text(text: str, loc: list[Any]) -> str:
    """The comment's text, trimmed (the whitespace of str.strip, as a task's title): 1 to
    MAX_CHARACTERS code points, else 422 at `loc`."""
    text = text.strip()
    if not text:
        raise UnprocessableContent.at(loc, "must not be blank", "value_error")
    if len(text) > MAX_CHARACTERS:
        raise UnprocessableContent.at(
            loc,
            f"at most {MAX_CHARACTERS} characters after trimming",
            "value_error",
            f"A comment holds at most {MAX_CHARACTERS} characters (Unicode code points).",
        )
    return text
