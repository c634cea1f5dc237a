"""The service does what openapi.yaml says: schemathesis, every phase and every check, against a
real `todo-api serve` process with a database of its own (schemathesis.toml holds the settings
and the reasons for each narrowed check; tests/schemathesis_hooks.py signs up and logs in); and
no request of the run held the service's event loop past tests/loop_guard.py's bound."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ROOT, LiveServer, serve_fresh
from tests.loop_guard import check_holds, worst_holds

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
RUN_TIMEOUT = 900  # seconds; the run takes a minute or two


@pytest.fixture(scope="module")
def service(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_fresh(admin_dsn, tmp_path_factory, "todo_conformance") as server:
        yield server


def test_the_service_conforms_to_its_contract(
    service: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.ndjson"
    run = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(SCHEMATHESIS),
            "run",
            "openapi.yaml",
            "--url",
            service.url,
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(events),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    cases, failures = _tally(events)
    logged = service.log_summary()
    worst = sorted(worst_holds(service).items(), key=lambda item: -item[1])[:5]
    with capsys.disabled():
        print(f"\nschemathesis: cases per phase {dict(cases)}, failing checks {dict(failures)}")
        print(f"service: {logged.lines} log lines, 5xx {dict(logged.server_errors)}")
        print("longest holds of the event loop: " + ", ".join(f"{o} {s:.3f} s" for o, s in worst))
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert sum(cases.values()) > 0
    assert not failures
    assert not logged.server_errors, logged.errors[:5]
    assert not logged.errors, logged.errors[:5]
    check_holds(service)  # no request held its worker's event loop past HOLD_BOUND


def _tally(events: Path) -> tuple[Counter[str], Counter[str]]:
    """Test cases run per phase, and failed checks by name, from the NDJSON event stream."""
    cases: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    if not events.exists():
        return cases, failures
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases[finished["phase"]] += len(recorder.get("cases", {}))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] == "failure":
                    failures[check["name"]] += 1
    return cases, failures
