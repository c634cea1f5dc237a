"""Every malformed input of every operation, and what it costs the event loop.

    .venv/bin/python -m bench.fallback_probe [URL] [--burst N] [--all]

Each operation of openapi.yaml is sent its parameters and body broken in every way the contract
allows to be broken: numbers that are no numbers (`abc`, `1_0`, Arabic-Indic digits, 30
digits, empty), text that is not UTF-8, values off every enum, pattern and format, a parameter
given twice, a required one left out, a header given twice or empty; bodies that are no JSON,
empty, nested 100 deep, of the wrong media type or none, NaN, a lone surrogate, UTF-16, a BOM,
a 40-digit integer, a leap second, each field of the contract's example of the wrong type.
Each case goes as a burst of N identical requests (8 by default), written at once on N
connections as an attacker would, while /health is asked once on a connection of its own.

Per case, from the service's own /metrics: the requests and replies the compiled plan left to
openapi-core (todo_validation_fallbacks_total; `?` on a service that does not count them) and
the holds of the event loop the guard saw for that operation (todo_event_loop_hold_seconds:
50 ms or more, so a burst of N requests each holding it 30 ms shows as one hold of about
N x 30 ms); and /health's latency during the burst. Prints every case that reached openapi-core
or held the loop (all of them with --all), then per operation its worst.

Without URL, `todo-api serve` (this checkout, or the one PYTHONPATH names) is started on the
benchmark's database (bench/database.py) and stopped at the end. Path ids are the probe
account's own (a task, a list, a session); a destructive operation that accepts a case does
what it says to the probe's own account only.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server.app import load_contract, load_plans
from server.contract.loading import Operation

PASSWORD = "correct horse battery"  # noqa: S105 - the probe account's own
FALLBACKS = "todo_validation_fallbacks_total"
HOLD = "todo_event_loop_hold_seconds"
LEAP_SECOND = "2026-06-30T23:59:60Z"
NOT_UTF8 = "%FF%FE"  # as sent in a query: bytes that are no UTF-8


@dataclass
class Case:
    operation: Operation
    name: str
    query: list[tuple[str, str]] = field(default_factory=list)  # already %-encoded
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    path: dict[str, str] = field(default_factory=dict)  # path parameters overridden
    body: bytes | None = None
    content_type: str | None = "application/json"


@dataclass
class Outcome:
    statuses: dict[int, int]
    fallbacks: float | None  # None: the service does not count them
    holds: int
    held: float  # seconds, summed over the holds
    health_ms: float


class Probe:
    def __init__(self, base: str, burst: int) -> None:
        self.base, self.burst = base, burst
        host, _, port = base.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port or 80)
        self.ids: dict[str, str] = {}
        self.token = ""

    async def account(self) -> None:
        """An account with a task, a list and a second session, for the path ids."""
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as http:
            email = f"probe-{secrets.token_hex(4)}@example.org"
            account = {"email": email, "password": PASSWORD, "name": "Probe"}
            signed = await http.post("/api/auth/signup", json=account)
            assert signed.status_code == 201, signed.text
            credentials = {"email": email, "password": PASSWORD}
            second = (await http.post("/api/auth/login", json=credentials)).json()
            login = (await http.post("/api/auth/login", json=credentials)).json()
            self.token = login["access_token"]
            auth = {"Authorization": f"Bearer {self.token}"}
            user_id = login["user"]["id"]
            made = await http.post(f"/api/{user_id}/tasks", json={"title": "t"}, headers=auth)
            listed = await http.post(f"/api/{user_id}/lists", json={"name": "L"}, headers=auth)
            sessions = (await http.get("/api/me/sessions", headers=auth)).json()["sessions"]
            other = next(s["id"] for s in sessions if not s["current"])
            assert second["access_token"]
            self.ids = {
                "user_id": user_id,
                "task_id": made.json()["id"],
                "list_id": listed.json()["id"],
                "session_id": other,
            }

    def raw_request(self, case: Case) -> bytes:
        op = case.operation
        path = op.path
        for name, value in {**self.ids, **case.path}.items():
            path = path.replace("{" + name + "}", value)
        if case.query:
            path += "?" + "&".join(f"{k}={v}" for k, v in case.query)
        method = "HEAD" if op.operation_id == "stream_events" else op.method
        head = [f"{method} {path} HTTP/1.1".encode(), f"Host: {self.host}".encode()]
        head.append(b"Connection: close")
        if op.secured:
            head.append(f"Authorization: Bearer {self.token}".encode())
        head += [name.encode() + b": " + value for name, value in case.headers]
        if case.body is not None:
            if case.content_type is not None:
                head.append(f"Content-Type: {case.content_type}".encode())
            head.append(f"Content-Length: {len(case.body)}".encode())
        return b"\r\n".join(head) + b"\r\n\r\n" + (case.body or b"")

    async def send(self, case: Case) -> Outcome:
        before = await self.metrics()
        request = self.raw_request(case)
        connections = [
            await asyncio.open_connection(self.host, self.port) for _ in range(self.burst)
        ]
        for _, writer in connections:
            writer.write(request)
        health = asyncio.create_task(self.health())
        statuses: dict[int, int] = {}
        for reader, writer in connections:
            status = await _status(reader)
            statuses[status] = statuses.get(status, 0) + 1
            writer.close()
        health_ms = await health
        after = await self.metrics()
        name = case.operation.operation_id
        fallbacks = None
        if FALLBACKS in after:
            fallbacks = after[FALLBACKS].get(name, 0) - before.get(FALLBACKS, {}).get(name, 0)
        holds = after[f"{HOLD}_count"].get(name, 0) - before[f"{HOLD}_count"].get(name, 0)
        held = after[f"{HOLD}_sum"].get(name, 0) - before[f"{HOLD}_sum"].get(name, 0)
        return Outcome(statuses, fallbacks, int(holds), held, health_ms)

    async def health(self) -> float:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        start = time.perf_counter()
        head = f"GET /health HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        await _status(reader)
        writer.close()
        return (time.perf_counter() - start) * 1000

    async def metrics(self) -> dict[str, dict[str, float]]:
        """By sample name, the value per operation (requests and replies summed)."""
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as http:
            text = (await http.get("/metrics")).text
        found: dict[str, dict[str, float]] = {f"{HOLD}_count": {}, f"{HOLD}_sum": {}}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (FALLBACKS, f"{HOLD}_count", f"{HOLD}_sum"):
                    values = found.setdefault(sample.name, {})
                    operation = sample.labels.get("operation", "")
                    values[operation] = values.get(operation, 0) + sample.value
        return found


async def _status(reader: asyncio.StreamReader) -> int:
    """The answer's status (0: the connection closed without one)."""
    line = b""
    try:
        line = await reader.readline()
        await reader.read()  # Connection: close: the answer ends with the connection
    except ConnectionError:  # closed before the whole request was read (413)
        pass
    try:
        return int(line.split()[1])
    except (IndexError, ValueError):
        return 0


def cases() -> Iterator[Case]:
    contract, plans = load_contract(), load_plans()
    for op in contract.operations:
        plan = plans[op.operation_id]
        document = contract.document["paths"][op.path][op.method.lower()]
        for param in plan.parameters:
            yield from _parameter_cases(
                op,
                param.name,
                param.location,
                param.item_type,
                param.required,
                _schema_of(contract, op, param.name),
            )
        if plan.has_body:
            yield from _body_cases(op, document, list(plan.body_types))


def _schema_of(contract: Any, op: Operation, name: str) -> dict[str, Any]:
    item = contract.document["paths"][op.path]
    declared = [*item.get("parameters", []), *item[op.method.lower()].get("parameters", [])]
    for raw in declared:
        param = _resolve(contract.document, raw)
        if param["name"] == name:
            return dict(_resolve(contract.document, param.get("schema", {})))
    return {}


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _parameter_cases(
    op: Operation, name: str, location: str, kind: str, required: bool, schema: dict[str, Any]
) -> Iterator[Case]:
    items = _resolve(load_contract().document, schema.get("items", {}))
    text_format = schema.get("format") or items.get("format")
    values = ["abc", "1_0", "%D9%A1%D9%A0", "9" * 30, "", "1.5", "-1"] if kind == "integer" else []
    if kind == "string":
        values = ["", "x" * 300, NOT_UTF8, "%00", "not-a-uuid"]
        if text_format == "date-time":
            values += [LEAP_SECOND.replace(":", "%3A"), "2026-13-01T00%3A00%3A00Z"]
    if location == "query":
        for value in values:
            yield Case(op, f"{name}={value[:12]}", query=[(name, value)])
        good = "5" if kind == "integer" else "x"
        yield Case(op, f"{name} twice", query=[(name, good), (name, good)])
        if required:
            yield Case(op, f"{name} missing", query=[])
    elif location == "header":
        yield Case(op, f"{name} twice", headers=[(name, b'"1"'), (name, b'"2"')])
        yield Case(op, f"{name} empty", headers=[(name, b"")])
        yield Case(op, f"{name} latin-1", headers=[(name, b"\xff\xfe")])
        yield Case(op, f"{name} 200 commas", headers=[(name, b'"1",' * 200 + b'"2"')])
    elif location == "path" and name != "user_id":
        for value in ("not-a-uuid", "%FF", "x" * 300, quote("\u0661" * 8)):
            yield Case(op, f"{name}={value[:12]}", path={name: value})


def _body_cases(op: Operation, document: dict[str, Any], media: list[str]) -> Iterator[Case]:
    example = _example(document)
    raw = json.dumps(example).encode()
    for name, body in (
        ("malformed JSON", b"{"),
        ("trailing data", raw + b"{}"),
        ("nested 100 deep", b"[" * 100 + b"]" * 100),
        ("nested 2000 deep", b"[" * 2000 + b"]" * 2000),
        ("NaN", b'{"title": NaN}'),
        ("lone surrogate", b'{"title": "\\ud800", "name": "\\ud800"}'),
        ("UTF-16", raw.decode().encode("utf-16")),
        ("BOM", b"\xef\xbb\xbf" + raw),
        ("40-digit integer", b'{"title": 1' + b"0" * 40 + b"}"),
        ("not UTF-8", b'{"title": "\xff"}'),
        ("array", b"[]"),
        ("null", b"null"),
        ("leap second", json.dumps({**example, "due_date": LEAP_SECOND}).encode()),
        ("1 MB of spaces", b" " * 1_000_000 + raw),
    ):
        yield Case(op, f"body {name}", body=body)
    yield Case(op, "body empty", body=b"")
    yield Case(op, "body text/plain", body=raw, content_type="text/plain")
    yield Case(op, "body no Content-Type", body=raw, content_type=None)
    if len(media) > 1:
        yield Case(op, f"body {media[1]} malformed", body=b"{", content_type=media[1])
    for key in example if isinstance(example, dict) else []:
        wrongs: tuple[Any, ...] = (None, 1, [], {}, "x" * 5000)
        for wrong in wrongs:
            mutated = copy.deepcopy(example)
            mutated[key] = wrong
            yield Case(op, f"body {key}={json.dumps(wrong)[:8]}", body=json.dumps(mutated).encode())


def _example(document: dict[str, Any]) -> Any:
    contract = load_contract().document
    for media in document.get("requestBody", {}).get("content", {}).values():
        for example in media.get("examples", {}).values():
            return _resolve(contract, example).get("value", {})
    return {}


async def probe(base: str, burst: int, show_all: bool) -> None:
    runner = Probe(base, burst)
    await runner.account()
    worst: dict[str, tuple[float, str, Outcome]] = {}
    print(f"{'operation':20} {'case':28} {'statuses':16} fallbacks holds≥50ms held  /health")
    for case in cases():
        outcome = await runner.send(case)
        name = case.operation.operation_id
        if outcome.held >= worst.get(name, (-1.0, "", outcome))[0]:
            worst[name] = (outcome.held, case.name, outcome)
        if show_all or outcome.fallbacks or outcome.holds:
            print(_line(name, case.name, outcome))
    print("\nworst case per operation (the one that held the loop longest):")
    for name, (_, case_name, outcome) in worst.items():
        print(_line(name, case_name, outcome))


def _line(operation: str, case: str, outcome: Outcome) -> str:
    statuses = ",".join(f"{s}x{n}" for s, n in sorted(outcome.statuses.items()))
    fallbacks = "?" if outcome.fallbacks is None else f"{outcome.fallbacks:.0f}"
    return (
        f"{operation:20} {case[:28]:28} {statuses:16} {fallbacks:>9} {outcome.holds:5}"
        f" {outcome.held * 1000:6.0f}ms {outcome.health_ms:6.1f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--burst", type=int, default=8)
    parser.add_argument("--all", action="store_true", help="print every case")
    args = parser.parse_args()
    if args.url:
        asyncio.run(probe(args.url, args.burst, args.all))
        return
    from bench import database
    from bench.service import Service

    dsn = database.open_database()
    service = Service(dsn, secrets.token_hex(32), Path(".data/fallback-probe.log"))
    service.start("full")
    try:
        asyncio.run(probe(service.url, args.burst, args.all))
    finally:
        service.stop()


if __name__ == "__main__":
    main()
