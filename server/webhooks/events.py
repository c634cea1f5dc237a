"""What a webhook hears: the names of its events, and a delivery's payload for each.

A change of the owner's feed (SPEC §7: each object once, in its latest state, in commit order;
a member's feed holds the shared lists' objects too) is `<kind>.created` (task, list, comment)
when the object is still at its first version (nothing changed it since it was made),
`<kind>.updated` otherwise, and `<kind>.deleted` for a delete (a tombstone, or a comment gone to
the trash with its task); its `data` is the feed's Change. A reminder that falls due is
`reminder` (sql/reminders.sql queues it), a test ping `webhook.ping`. A webhook subscribes to
names, or to every name of a kind with `kind.*`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from server.sync.feed import change
from server.webhooks.signing import new_message_id

PING = "webhook.ping"


def event_type(row: Mapping[str, Any]) -> str:
    """The event a row of the change feed is."""
    if row["op"] == "delete":
        return f"{row['kind']}.deleted"
    return f"{row['kind']}.{'created' if row['version'] == 1 else 'updated'}"


def wanted(events: Iterable[str], kind: str) -> bool:
    names = set(events)
    return kind in names or f"{kind.partition('.')[0]}.*" in names


def payload(kind: str, data: Any, at: datetime | None = None) -> dict[str, Any]:
    """An outbox row's payload: the message's id and type, and its body as sent (the same bytes
    on every attempt, so its signature covers what the receiver reads)."""
    message_id = new_message_id()
    body = {
        "type": kind,
        "id": message_id,
        "timestamp": at or datetime.now(UTC),
        "data": data,
    }
    text = orjson.dumps(body, option=orjson.OPT_UTC_Z).decode()
    return {"message_id": message_id, "type": kind, "body": text}


def feed_payloads(rows: Iterable[Mapping[str, Any]], events: Iterable[str]) -> list[dict[str, Any]]:
    """The deliveries a webhook subscribed to `events` is owed for these feed rows, in order."""
    chosen = []
    for row in rows:
        kind = event_type(row)
        if wanted(events, kind):
            chosen.append(payload(kind, change(row), row["changed_at"]))
    return chosen
