"""`make reset-data`: the development database (DATA_DIR/postgres) and its metrics go, without
a question and with a line saying what went; the secret and other folders stay; a database that
is running is left alone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests import ROOT


def _reset(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own Makefile
        ["make", "-s", "reset-data", f"DATA_DIR={data_dir}"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _fill(data_dir: Path) -> None:
    for folder in ("postgres/base", "metrics/123", "e2e/postgres"):
        (data_dir / folder).mkdir(parents=True)
    (data_dir / "postgres" / "PG_VERSION").write_text("18\n")
    (data_dir / "jwt-secret").write_text("secret")


def test_it_removes_the_database_and_says_so(tmp_path: Path) -> None:
    _fill(tmp_path)
    done = _reset(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"reset-data: removed {tmp_path}/postgres {tmp_path}/metrics;"
        " the next 'make run' starts an empty database\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2e", "jwt-secret"]
    assert (tmp_path / "e2e" / "postgres").is_dir()

    again = _reset(tmp_path)
    assert (again.returncode, again.stdout) == (0, f"reset-data: nothing to remove in {tmp_path}\n")


def test_it_leaves_a_running_database_alone(tmp_path: Path) -> None:
    _fill(tmp_path)
    running = os.getpid()  # a live process stands for the PostgreSQL server
    (tmp_path / "postgres" / "postmaster.pid").write_text(f"{running}\n{tmp_path}/postgres\n")
    done = _reset(tmp_path)
    assert done.returncode != 0
    assert done.stdout == (
        f"reset-data: the database in {tmp_path}/postgres is running (PostgreSQL pid {running}):"
        " stop the service first\n"
    )
    assert (tmp_path / "postgres" / "PG_VERSION").is_file()
    assert (tmp_path / "metrics").is_dir()
