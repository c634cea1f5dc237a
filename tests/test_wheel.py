"""The built wheel is the service: installed in a fresh virtualenv outside the checkout, its
`todo-api serve`, started in another folder, finds openapi.yaml, sql/, migrations/ and the
docs' and the console's files inside the package and serves the API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import ROOT
from tests.live import serve_fresh

pytestmark = pytest.mark.slow


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(  # noqa: S603 - our own build and install commands
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh virtualenv with the wheel built from this checkout, its
    dependencies at the lock's versions (the newest release of each would make the test's
    outcome depend on the day it runs)."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT, cwd=work)
    (wheel,) = dist.glob("todo_api-*.whl")
    locked = re.findall(r"^\S+==[^\s\\]+", (ROOT / "requirements-dev.txt").read_text(), re.M)
    constraints = work / "constraints.txt"
    constraints.write_text("\n".join(locked) + "\n")
    _run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    pip = (work / "venv" / "bin" / "python", "-m", "pip", "install", "-q")
    _run(*pip, "-c", constraints, wheel, cwd=work)
    return work / "venv" / "bin"


def test_the_package_reads_its_runtime_files_from_inside_itself(installed: Path) -> None:
    where = _run(
        installed / "python",
        "-c",
        "from server import resources as r; print(r.CONTRACT_PATH, r.SQL_DIR, r.MIGRATIONS_DIR)",
        cwd=installed,
    )
    for path in where.split():
        assert Path(path).is_relative_to(installed.parent), path
        assert Path(path).exists(), path


def test_installed_wheel_serves_health_docs_and_the_contract(
    installed: Path,
    admin_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    contract: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    # Started, it answered /ready: its sql/ and migrations/ match the migrated database.
    with serve_fresh(
        admin_dsn, tmp_path_factory, "wheel", command=installed / "todo-api", cwd=elsewhere
    ) as server:
        health = httpx.get(f"{server.url}/health")
        docs = httpx.get(f"{server.url}/docs")
        redoc = httpx.get(f"{server.url}/docs/assets/redoc.standalone.js")
        served = httpx.get(f"{server.url}/openapi.json")
        console = httpx.get(f"{server.url}/console")
        swagger = httpx.get(f"{server.url}/console/assets/swagger-ui-bundle.js")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/docs/assets/redoc.standalone.js" in docs.text
    assert redoc.status_code == 200
    assert len(redoc.content) > 100_000
    assert served.status_code == 200
    assert served.json()["info"]["version"] == contract["info"]["version"]
    assert served.json()["paths"].keys() == contract["paths"].keys()
    assert console.status_code == 200
    assert "/console/assets/swagger-ui-bundle.js" in console.text
    assert swagger.status_code == 200
    assert len(swagger.content) > 100_000
