"""The one PostgreSQL channel that carries live signals between workers and instances
(SPEC §7: LISTEN/NOTIFY, no other broker). A payload is JSON with `user_id` and `kind`:

- `{"user_id", "kind": "change"}`: something of that user committed (sent by the revision trigger
  of migration 0020, once per transaction); each stream reads the feed after its position.
- `{"user_id", "kind": "reminder", "reminder": {task_id, title, fire_at}}`: forwarded as
  `event: reminder` with the reminder as data (published by the reminder scheduler, issue 16,
  with `pg_notify(CHANNEL, payload)`).
- `{"user_id", "kind": "session"}`: a login family of that user stopped being live, or the account
  went (the triggers of migration 0032, at commit); each stream of the user re-checks its session
  and ends if it was the one.
"""

from __future__ import annotations

from typing import Any

import orjson

CHANNEL = "todo_events"


def parse(payload: str) -> dict[str, Any] | None:
    """The signal, or None for a payload that is not one of ours."""
    try:
        signal = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(signal, dict) or not isinstance(signal.get("user_id"), str):
        return None
    return signal
