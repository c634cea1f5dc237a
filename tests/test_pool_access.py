"""A handler runs its statements on the request's executor (request.ctx.db), which checks the
caller's session around them (server/access/gate.py), so it cannot skip a revocation. The app's
pool itself is handed out only where no request's caller is: the app (opening, closing, its
background loops, the outbox's senders) and an open event stream, which reads its session's
verdict itself (server/sync/events.py)."""

from __future__ import annotations

import re

from tests import ROOT

POOL = re.compile(r"(?<!request\.)\bctx\.db\b(?!\s*=)")
OWNERS = {"server/app.py", "server/senders.py", "server/sync/events.py"}


def test_only_the_app_its_loops_and_streams_touch_the_pool() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "server").rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if POOL.search(line)
    }
    strays = sorted(place for place in found if place.rpartition(":")[0] not in OWNERS)
    assert strays == [], "use request.ctx.db (the caller's executor) in handlers"
    assert found, "the pattern no longer finds the app's own uses: it checks nothing"
