"""Stepping a recurrence rule under a hard budget: dateutil's rrule, never a walk of our own.

rrule walks the calendar a period at a time (a day, week, month or year of its FREQ, INTERVAL
periods apart) and looks at UNTIL and COUNT only when a period holds a candidate. So a rule that
never occurs (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) walks on to year 9999, seconds of the event
loop, and one that does not move (INTERVAL=0) walks forever. Here the walk is rrule's own
(its `_iter`, run with an `_iterinfo` that counts), and it stops with OutOfSteps at the
period past its FREQ's budget. Each budget costs at most about 5-10 ms of the loop (measured on a
busy two-core machine) and reaches past the gaps of ordinary rules: 5.5 years of DAILY periods,
10 of WEEKLY, 50 of MONTHLY and 60 of YEARLY (at INTERVAL=1) hold every gap between two 29ths
of February but the one across 2100, and every 29th of February that is a Monday."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dateutil import rrule as dateutil_rrule  # type: ignore[import-untyped]

DAILY, WEEKLY, MONTHLY, YEARLY = (
    dateutil_rrule.DAILY,
    dateutil_rrule.WEEKLY,
    dateutil_rrule.MONTHLY,
    dateutil_rrule.YEARLY,
)
# The periods a walk may examine, by FREQ (a year of a YEARLY rule costs rrule what twenty
# days of a DAILY one do).
STEPS = {DAILY: 2000, WEEKLY: 520, MONTHLY: 600, YEARLY: 60}
UNITS = {DAILY: "days", WEEKLY: "weeks", MONTHLY: "months", YEARLY: "years"}


class OutOfSteps(Exception):
    """The rule examined its whole budget of periods without finding an occurrence."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"no occurrence within {steps} steps")
        self.steps = steps


class _Tally:
    examined = 0  # periods examined by every walk of this process (what the tests measure)


def examined() -> int:
    """Periods examined so far by every walk of this process."""
    return _Tally.examined


class _CountedPeriods(dateutil_rrule._iterinfo):
    """rrule's per-walk state; each period the walk asks for counts against the budget."""

    def __init__(self, series: Any) -> None:
        super().__init__(series)
        self.left = STEPS[series._freq]

    def _count(self) -> None:
        _Tally.examined += 1
        self.left -= 1
        if self.left < 0:
            raise OutOfSteps(STEPS[self.rrule._freq])

    def ydayset(self, *args: int) -> Any:
        self._count()
        return super().ydayset(*args)

    def mdayset(self, *args: int) -> Any:
        self._count()
        return super().mdayset(*args)

    def wdayset(self, *args: int) -> Any:
        self._count()
        return super().wdayset(*args)

    def ddayset(self, *args: int) -> Any:
        self._count()
        return super().ddayset(*args)


def _counted_walk() -> types.FunctionType:
    """rrule._iter itself, reading _CountedPeriods where it reads _iterinfo."""
    code = dateutil_rrule.rrule._iter.__code__
    if "_iterinfo" not in code.co_names:  # a dateutil that walks another way: fail at start
        raise RuntimeError("dateutil's rrule no longer walks through _iterinfo")
    names = {**vars(dateutil_rrule), "_iterinfo": _CountedPeriods}
    return types.FunctionType(code, names, "_counted_iter")


_WALK = _counted_walk()


def occurrences(series: dateutil_rrule.rrule) -> Iterator[datetime]:
    """The rule's occurrences from its start, raising OutOfSteps past the budget."""
    walk: Iterator[datetime] = _WALK(series)
    return walk


def first_after(series: dateutil_rrule.rrule, after: datetime) -> datetime | None:
    """The first occurrence after `after`; None when the rule ends first (UNTIL, COUNT or the
    end of year 9999); OutOfSteps when the budget runs out before either."""
    return next((found for found in occurrences(series) if found > after), None)
