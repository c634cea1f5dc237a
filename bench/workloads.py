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

DEPTH = 9_000
Check = tuple[str, str, str | None, Any]  # method, path, bearer token, JSON body


@dataclass(frozen=True)
class Workload:
    name: str
    script: str  # in bench/lua/
    account: str  # a field of Seeded: whose tasks (or, for logins, which accounts) it uses
    query: str = ""
    creates: bool = False
    bare: bool = True  # bench/bare.py answers it too


WORKLOADS = [
    Workload("list 20", "list.lua", "big", "limit=20"),
    Workload("list 50", "list.lua", "big", "limit=50"),
    Workload("list 20 manual", "list.lua", "big"),  # sort=position&list_id=: Fixtures sets it
    Workload("get", "get.lua", "big"),
    Workload("create", "create.lua", "creator", creates=True),
    Workload("update", "update.lua", "medium"),
    Workload("complete", "complete.lua", "medium"),
    Workload("mixed", "mixed.lua", "medium", creates=True),
    Workload("cursor 9000", "list.lua", "big", bare=False),  # query: Fixtures.walk_cursor
    Workload("login", "login.lua", "logins", bare=False),
]
BY_NAME = {w.name: w for w in WORKLOADS}
STORM = Workload("login storm", "login.lua", "storm", bare=False)


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
            for name in ("big", "medium", "creator")
        }
        self.queries = {w.name: w.query for w in WORKLOADS}
        self.queries["list 20 manual"] = f"limit=20&sort=position&list_id={seeded.big.inbox_id}"

    def env(self, workload: Workload) -> dict[str, str]:
        """The environment of the workload's Lua script (read by bench/lua/common.lua)."""
        if workload.script == "login.lua":
            accounts = getattr(self.seeded, workload.account)
            return {
                "BENCH_EMAILS": ",".join(a.email for a in accounts),
                "BENCH_PASSWORD": database.PASSWORD,
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
        else:
            account = getattr(s, workload.account)
            base, token = f"/api/{account.id}/tasks", self.tokens[workload.account]
            one = f"{base}/{(account.task_ids or s.medium.task_ids)[0]}"
            new = {"title": "probe", "tags": [database.NEW_TASK_TAG]}
            by_script: dict[str, list[Check]] = {
                "list.lua": [("GET", f"{base}?{self.queries[workload.name]}", token, None)],
                "get.lua": [("GET", one, token, None)],
                "create.lua": [("POST", base, token, new)],
                "update.lua": [("PATCH", one, token, {"priority": "high"})],
                "complete.lua": [("PATCH", f"{one}/complete", token, None)],
            }
            by_script["mixed.lua"] = [c for cs in by_script.values() for c in cs]
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
