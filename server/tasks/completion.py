"""Writes that may complete a recurring task (SPEC §8). The write is one statement, as for any
task, unless it completes an open recurring task: that statement then matches nothing, and the
second pass reads the task, steps its rule in its owner's zone and writes the next due (the task
stays open and records last_completed_at; it does not complete its descendants) or, when the rule
has no next occurrence, completes it as usual. The version read is the one written, so a
concurrent change makes it start over.

A completion completes the occurrence it found: the first statement reports the task's
completion as it found it (seen_completed, seen_completed_at), and when another request (two
tabs, a double click, a batch) has completed or advanced the task since, this one does not
advance it again. A bare completion then answers the task as it is (what it asked for is done);
one that also changes other fields answers 412 and changes nothing, as those changes (its due
above all, the one it meant to step from) were made against a task that is no more. A request
the server receives after the first has landed is a second completion, which is what it looks
like; a client that retries one sends If-Match, and its retry is a 412 that changes nothing.

A write that sets a rule without a due checks that the rule occurs after the stored due, in the
owner's zone (a write that gives both was checked with its fields)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.db.executor import ATTEMPTS, Executor, Row
from server.db.queries import AccessParams, Queries
from server.errors import NotFound, PreconditionFailed, UnprocessableContent
from server.http.preconditions import etag
from server.tasks import schedule
from server.tasks.missing import NO_TASK, missing_or_stale
from server.tasks.recurrence import Due, check_occurs, next_due

COMPLETED_MEANWHILE = "Another request completed the task meanwhile; this one changed nothing."
# update_task's parameters that change something besides completion, unless None (values) or
# False (the set_ flags of the nullable fields).
OTHER_VALUES = ("title", "priority", "tags", "reminders")
OTHER_FLAGS = ("set_description", "set_due_date", "set_due_on", "set_recurrence")


async def write(
    db: Executor,
    queries: Queries,
    token: AccessParams,
    task_id: str,
    versions: list[int] | None,
    fields: Mapping[str, Any],
    now: datetime,
    found: tuple[bool, datetime | None] | None = None,
) -> Row:
    """The written task, or 404 / 412 (a missing task / one not at `versions`), or 422 (an
    assignee who is no one of the task's list). `found`: the task's completion as the request
    found it, when an earlier statement of it (a batch's locks) did, before this one's."""
    given = dict(fields)
    async with schedule.dues_checked():
        if _sets_rule_alone(given):
            await _check_rule_on_stored_due(db, queries, token, task_id, given)
        row = await queries.update_task(
            db, **token, id=task_id, versions=versions, advance=None, **given
        )
        if row["id"] is None and row["caller_role"] is not None and not row["assignee_ok"]:
            raise UnprocessableContent.at(
                ["body", "assignee_id"], "is not a member of the task's list", "value_error"
            )
        seen = found or (row["seen_completed"], row["seen_completed_at"])
        for _ in range(ATTEMPTS):
            if row["id"] is not None:
                return row
            state = await queries.completing_task(db, user_id=token["user_id"], id=task_id)
            if state is None:
                raise NotFound(NO_TASK)
            if versions is not None and state["version"] not in versions:
                raise PreconditionFailed(etag(state["version"]))
            if _completing(state, given) and seen != (False, state["last_completed_at"]):
                if _changes_anything(given):  # its due was the one to step from: stale now
                    raise PreconditionFailed(etag(state["version"]), COMPLETED_MEANWHILE)
                return await _current(db, queries, token, task_id)
            step = _next(state, given, now)
            if step is not None:
                given = {**given, "due_date": step.due_date, "due_on": step.due_on}
            row = await queries.update_task(
                db,
                **token,
                id=task_id,
                versions=[state["version"]],
                advance=_advance(state, given, step),
                **given,
            )
    if row["id"] is not None:
        return row
    # changed under us at every attempt: 412 with its version now (or 404 if gone meanwhile)
    await missing_or_stale(db, queries, token["user_id"], task_id)


async def _current(db: Executor, queries: Queries, token: AccessParams, task_id: str) -> Row:
    row = await queries.get_task(
        db,
        user_id=token["user_id"],
        session_id=token["session_id"],
        token_hash=token["token_hash"],
        id=task_id,
    )
    if row["id"] is None:
        raise NotFound(NO_TASK)
    return row


def _changes_anything(given: Mapping[str, Any]) -> bool:
    """Whether the write changes something besides completing."""
    return any(given[name] is not None for name in OTHER_VALUES) or any(
        given[name] for name in OTHER_FLAGS
    )


def _sets_rule_alone(given: Mapping[str, Any]) -> bool:
    sets_due = given["set_due_date"] or given["set_due_on"]
    return bool(given["set_recurrence"] and given["recurrence"] is not None and not sets_due)


async def _check_rule_on_stored_due(
    db: Executor, queries: Queries, token: AccessParams, task_id: str, given: Mapping[str, Any]
) -> None:
    """The rule given must occur after the task's stored due (without one, the write's CHECK
    refuses it); a missing task is the write's 404."""
    state = await queries.completing_task(db, user_id=token["user_id"], id=task_id)
    if state is None or (state["due_date"] is None and state["due_on"] is None):
        return
    due = Due(state["due_date"], state["due_on"])
    check_occurs(given["recurrence"]["rule"], due, ZoneInfo(state["timezone"]))


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
