"""The workloads, and what each one's Lua script needs: accounts, tokens, task ids, queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bench import database
from bench.database import Seeded
from bench.service import TOKEN_TTL, Service
from server.access.tokens import issue_access_token
from server.config import Settings
from server.sync import feed

DEPTH = 9_000
MIXED = ("list.lua", "get.lua", "create.lua", "update.lua", "complete.lua")
Check = tuple[str, str, str | None, Any]  # method, path, bearer token, JSON body
PROBE_TASK = {"title": "probe", "tags": [database.NEW_TASK_TAG]}  # removed with what the load adds


FULL_AND_OFF = ("full", "off")
WITH_BARE = (*FULL_AND_OFF, "bare")
EVERY_SERVER = (*WITH_BARE, "plain")
GROWTH = ("full", "plain")  # the same operation for accounts of 100, 10,000 and 50,000 tasks


@dataclass(frozen=True)
class Workload:
    name: str
    script: str  # in bench/lua/
    account: str  # a field of Seeded: whose tasks (or, for logins, which accounts) it uses
    query: str = ""
    creates: bool = False
    modes: tuple[str, ...] = WITH_BARE  # the servers that answer it (bench/bare.py, plain.py)


WORKLOADS = [
    Workload("list 20", "list.lua", "big", "limit=20", modes=EVERY_SERVER),
    Workload("list 50", "list.lua", "big", "limit=50", modes=EVERY_SERVER),
    Workload("list 20 manual", "list.lua", "big"),  # sort=position&list_id=: Fixtures sets it
    Workload("get", "get.lua", "big", modes=EVERY_SERVER),
    Workload("create", "create.lua", "creator", creates=True, modes=EVERY_SERVER),
    # What a multi-user app sends: each create in flight for an account of its own.
    Workload("create 64 users", "create_many.lua", "creators", creates=True, modes=EVERY_SERVER),
    Workload("update", "update.lua", "medium"),
    Workload("complete", "complete.lua", "medium"),
    Workload("mixed", "mixed.lua", "medium", creates=True),
    Workload("cursor 9000", "list.lua", "big", modes=FULL_AND_OFF),  # Fixtures.walk_cursor
    Workload("login", "login.lua", "logins", modes=FULL_AND_OFF),
    # Growth: "list 20", "get" and "changes 10k" read the account of 10,000 tasks.
    Workload("list 20 @100", "list.lua", "small", "limit=20", modes=GROWTH),
    Workload("list 20 @50k", "list.lua", "huge", "limit=20", modes=GROWTH),
    # The page of open tasks a todo app shows most (its total a kept count since migration 0063).
    Workload("open 20 @100", "list.lua", "small", "limit=20&status=pending", modes=("full",)),
    Workload("open 20", "list.lua", "big", "limit=20&status=pending", modes=("full",)),
    Workload("open 20 @50k", "list.lua", "huge", "limit=20&status=pending", modes=("full",)),
    Workload("get @100", "get.lua", "small", modes=GROWTH),
    Workload("get @50k", "get.lua", "huge", modes=GROWTH),
    Workload("create @100", "create.lua", "small", creates=True, modes=GROWTH),
    Workload("create @10k", "create.lua", "big", creates=True, modes=GROWTH),
    Workload("create @50k", "create.lua", "huge", creates=True, modes=GROWTH),
    Workload("changes @100", "changes.lua", "small", modes=("full",)),
    Workload("changes @10k", "changes.lua", "big", modes=("full",)),
    Workload("changes @50k", "changes.lua", "huge", modes=("full",)),
    # A shared list of 10,000 tasks (issue 26): its editor's reads against its owner's, one
    # after the other in each round.
    Workload("list 20 shared owner", "list.lua", "sharer", "limit=20", modes=("full",)),
    Workload("list 20 shared member", "list.lua", "member", "limit=20", modes=("full",)),
    Workload("get shared owner", "get.lua", "sharer", modes=("full",)),
    Workload("get shared member", "get.lua", "member", modes=("full",)),
]
# Each shared-list operation: (the owner's workload, the member's).
SHARED = {
    "list 20": ("list 20 shared owner", "list 20 shared member"),
    "get": ("get shared owner", "get shared member"),
}
BY_NAME = {w.name: w for w in WORKLOADS}
STORM = Workload("login storm", "login.lua", "storm", modes=FULL_AND_OFF)
# Each growth operation at 100, 10,000 and 50,000 tasks: the workloads' names.
GROWTH_SIZES = {
    "list 20": ("list 20 @100", "list 20", "list 20 @50k"),
    "open 20": ("open 20 @100", "open 20", "open 20 @50k"),
    "get": ("get @100", "get", "get @50k"),
    "create": ("create @100", "create @10k", "create @50k"),
    "changes": ("changes @100", "changes @10k", "changes @50k"),
}
CHANGES_PAGE = 20  # a changes page reads the account's last 20 changes


class Fixtures:
    """The seeded accounts with their access tokens (minted as the service would, with its
    secret), and each workload's query string."""

    def __init__(self, seeded: Seeded, secret: str) -> None:
        self.seeded = seeded
        settings = Settings(jwt_secret=secret, access_token_ttl=TOKEN_TTL)
        self.tokens = {
            name: issue_access_token(
                settings, getattr(seeded, name).id, getattr(seeded, name).session_id
            )
            for name in ("big", "medium", "creator", "small", "huge", "sharer", "member")
        }
        self.creators = [
            issue_access_token(settings, account.id, account.session_id)
            for account in seeded.creators
        ]
        self.queries = {w.name: w.query for w in WORKLOADS}
        self.queries["list 20 manual"] = f"limit=20&sort=position&list_id={seeded.big.inbox_id}"
        for workload in WORKLOADS:
            if workload.script == "changes.lua":
                account = getattr(seeded, workload.account)
                since = feed.encode(secret, account.id, account.revision - CHANGES_PAGE)
                self.queries[workload.name] = f"since={since}&limit={CHANGES_PAGE}"

    def env(self, workload: Workload) -> dict[str, str]:
        """The environment of the workload's Lua script (read by bench/lua/common.lua)."""
        if workload.script == "login.lua":
            accounts = getattr(self.seeded, workload.account)
            return {
                "BENCH_EMAILS": ",".join(a.email for a in accounts),
                "BENCH_PASSWORD": database.PASSWORD,
            }
        if workload.script == "create_many.lua":
            return {
                "BENCH_USERS": ",".join(a.id for a in self.seeded.creators),
                "BENCH_TOKENS": ",".join(self.creators),
            }
        account = getattr(self.seeded, workload.account)
        return {
            "BENCH_USER": account.id,
            "BENCH_TOKEN": self.tokens[workload.account],
            "BENCH_IDS": ",".join(account.task_ids),
            "BENCH_QUERY": self.queries.get(workload.name, ""),
        }

    def probe(self, service: Service, workload: Workload) -> str | None:
        """Why the workload cannot run (an operation answers other than 2xx), or None."""
        s = self.seeded
        if workload.script == "login.lua":
            credentials = {"email": getattr(s, workload.account)[0].email}
            credentials["password"] = database.PASSWORD
            checks: list[Check] = [("POST", "/api/auth/login", None, credentials)]
        elif workload.script == "create_many.lua":
            checks = [
                ("POST", f"/api/{account.id}/tasks", token, PROBE_TASK)
                for account, token in zip(s.creators, self.creators, strict=True)
            ]
        else:
            account = getattr(s, workload.account)
            base, token = f"/api/{account.id}/tasks", self.tokens[workload.account]
            one = f"{base}/{(account.task_ids or s.medium.task_ids)[0]}"
            query = self.queries[workload.name]
            by_script: dict[str, list[Check]] = {
                "list.lua": [("GET", f"{base}?{query}", token, None)],
                "changes.lua": [("GET", f"/api/{account.id}/changes?{query}", token, None)],
                "get.lua": [("GET", one, token, None)],
                "create.lua": [("POST", base, token, PROBE_TASK)],
                "update.lua": [("PATCH", one, token, {"priority": "high"})],
                "complete.lua": [("PATCH", f"{one}/complete", token, None)],
            }
            by_script["mixed.lua"] = [c for s in MIXED for c in by_script[s]]
            checks = by_script[workload.script]
        for method, path, bearer, body in checks:
            status, answer = service.call(method, path, bearer, body)
            if not 200 <= status < 300:
                return f"{method} {path} answered {status}: {answer}"
        return None

    def walk_cursor(self, service: Service) -> bool:
        """Find the cursor of the page at depth DEPTH of the big user, by walking limit=100
        pages, and make it the query of "cursor 9000". False when the listing gives none."""
        account, token = self.seeded.big, self.tokens["big"]
        cursor, seen = "", 0
        while seen < DEPTH:
            query = "limit=100" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            status, page = service.call("GET", f"/api/{account.id}/tasks?{query}", token)
            if status != 200 or not page.get("next_cursor"):
                return False
            seen += len(page["tasks"])
            cursor = page["next_cursor"]
        self.queries["cursor 9000"] = f"limit=20&cursor={quote(cursor, safe='')}"
        return True
