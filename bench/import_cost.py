"""An import of N tasks (default 10,000: the most one import takes) against a real service, as
`make run` serves it (its statement timeout included): a document of trees four levels deep,
a third of the tasks dated, some recurring, with reminders and tags; its dry run, the import,
then the export of the account it filled. Each answer's status and time, and the longest hold
of the service's event loop by each of the three operations (its own measurement, /metrics).

    .venv/bin/python -m bench.import_cost [N]
"""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from bench.bulk_writes import Account
from bench.create_growth import server_uri, variant_database
from bench.service import Service

OPERATIONS = ("import_account", "export_account")


def document(size: int) -> dict[str, Any]:
    inbox, work = str(uuid.uuid4()), str(uuid.uuid4())
    tasks: list[dict[str, Any]] = []
    parents: list[str | None] = [None]
    for n in range(size):
        level = n % 4
        task: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "list_id": work if n % 2 else inbox,
            "parent_id": parents[level],
            "title": f"Imported task {n}",
            "description": "Some words about it, " * 3,
            "tags": ["bench", f"group-{n % 7}"],
        }
        if level == 0:
            task["list_id"] = work if (n // 4) % 2 else inbox
        else:
            task["list_id"] = tasks[-1]["list_id"]
        if n % 3 == 0:
            task["due_on"] = "2031-01-15"
            task["reminders"] = [{"before_due": "PT1H"}]
        if n % 30 == 0:
            task["recurrence"] = {"rule": "FREQ=WEEKLY;BYDAY=MO,TH"}
        tasks.append(task)
        parents[level + 1 : level + 2] = [task["id"]]
    return {
        "format": "todo-api.export.v1",
        "lists": [
            {"id": inbox, "name": "Inbox", "is_inbox": True},
            {"id": work, "name": "Work", "color": "#336699"},
        ],
        "tasks": tasks,
    }


def worst_holds(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        sample.labels["operation"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "todo_event_loop_hold_max_seconds"
    }


def timed(service: Service, method: str, path: str, token: str, body: Any = None) -> str:
    started = time.perf_counter()
    status, answer = service.call(method, path, token, body)
    seconds = time.perf_counter() - started
    detail = "" if status == 200 else f" {answer}"
    if isinstance(answer, dict) and "tasks" in answer and isinstance(answer["tasks"], int):
        detail = f" tasks={answer['tasks']} trashed={answer['trashed']}"
    return f"{method} {path.rsplit('/', 1)[1]:<22} {status} {seconds:6.2f} s{detail}"


def main(argv: list[str]) -> None:
    size = int(argv[0]) if argv else 10_000
    secret = secrets.token_hex()
    dsn = variant_database(server_uri(), "import_cost", {})
    service = Service(dsn, secret, Path(".data/import-cost.log"))
    service.start("full")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            account = Account(conn, secret)
        doc = document(size)
        base = f"/api/{account.id}"
        print(f"N={size} body={len(httpx.Request('POST', '/', json=doc).content) / 2**20:.1f} MiB")
        print(timed(service, "POST", f"{base}/import?dry_run=true", account.token, doc))
        print(timed(service, "POST", f"{base}/import", account.token, doc))
        print(timed(service, "GET", f"{base}/export", account.token))
        holds = worst_holds(service.url)
        for operation in OPERATIONS:
            print(f"longest loop hold by {operation}: {holds.get(operation, 0.0) * 1000:.0f} ms")
    finally:
        service.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
