"""The files the service reads at run time. openapi.yaml, sql/ and migrations/ stay at the
repository's root; the wheel carries them inside the package as server/_runtime/ (hatchling's
force-include, pyproject.toml), so an installed service finds them there and a checkout at its
root. static/ is part of the package either way."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = Path(str(files("server")))
PACKED = PACKAGE / "_runtime"


def runtime_path(name: str) -> Path:
    """A runtime file or folder: inside the installed package, else at the checkout's root."""
    packed = PACKED / name
    return packed if packed.exists() else PACKAGE.parent / name


CONTRACT_PATH = runtime_path("openapi.yaml")
SQL_DIR = runtime_path("sql")
MIGRATIONS_DIR = runtime_path("migrations")
STATIC_DIR = PACKAGE / "static" / "docs"
CONSOLE_DIR = PACKAGE / "static" / "console"
