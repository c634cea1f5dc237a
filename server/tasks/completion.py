"""Writes that may complete a recurring task (SPEC §8). The write is one statement, as for any
task, unless it completes an open recurring task: that statement then matches nothing, and the
second pass reads the task, steps its rule in its owner's zone and writes the next due (the task
stays open and records last_completed_at; it does not complete its descendants) or, when the rule
is exhausted, completes it as usual. The version read is the one written, so a concurrent
change makes it start over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.accounts.security import account_ok
from server.errors import NotFound, PreconditionFailed
from server.tasks import schedule
from server.tasks.recurrence import Due, next_due

ATTEMPTS = 3


async def write(
    db: Any,
    queries: Any,
    token: Mapping[str, str],
    task_id: str,
    versions: list[int] | None,
    fields: Mapping[str, Any],
    now: datetime,
) -> Any:
    """The written task, or 404 / 412 (a missing task / one not at `versions`); 401 when the
    token's account may not act (checked by the first statement, as for every write)."""
    given = dict(fields)
    async with schedule.dues_checked():
        row = account_ok(
            await queries.update_task(
                db, **token, id=task_id, versions=versions, advance=None, **given
            )
        )
        for _ in range(ATTEMPTS):
            if row["id"] is not None:
                return row
            state = await queries.completing_task(db, user_id=token["user_id"], id=task_id)
            if state is None:
                raise NotFound("No such task.")
            if versions is not None and state["version"] not in versions:
                raise PreconditionFailed()
            step = _next(state, given, now)
            if step is not None:
                given = {**given, "due_date": step.due_date, "due_on": step.due_on}
            row = account_ok(
                await queries.update_task(
                    db,
                    **token,
                    id=task_id,
                    versions=[state["version"]],
                    advance=_advance(state, given, step),
                    **given,
                )
            )
    if row["id"] is not None:
        return row
    raise PreconditionFailed()  # changed under us at every attempt


def _completing(state: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    if state["is_completed"]:
        return False
    return bool(given["toggle"] or given["is_completed"])


def _recurrence(state: Mapping[str, Any], given: Mapping[str, Any]) -> Any:
    return given["recurrence"] if given["set_recurrence"] else state["recurrence"]


def _next(state: Mapping[str, Any], given: Mapping[str, Any], now: datetime) -> Due | None:
    rule = _recurrence(state, given)
    if not _completing(state, given) or rule is None:
        return None
    due = Due(
        given["due_date"] if given["set_due_date"] else state["due_date"],
        given["due_on"] if given["set_due_on"] else state["due_on"],
    )
    done = 0 if given["set_recurrence"] else state["recurrence_done"]
    return next_due(rule, done, due, ZoneInfo(state["timezone"]), now)


def _advance(state: Mapping[str, Any], given: Mapping[str, Any], step: Due | None) -> bool | None:
    """True: move to `step`; False: complete (the rule is exhausted); None: an ordinary write."""
    if not _completing(state, given) or _recurrence(state, given) is None:
        return None
    return step is not None
