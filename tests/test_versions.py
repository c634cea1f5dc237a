"""One version, written once in the contract (openapi.yaml info.version): the service's
(pyproject.toml reads it from there) and the TypeScript package's (clients/typescript, which
`npm pack` refuses to pack with another)."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from tests import ROOT


def _contract_version() -> str:
    version = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))["info"]["version"]
    assert isinstance(version, str)
    return version


def test_the_service_reads_its_version_from_the_contract() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml writes a version of its own"
    assert project["project"]["dynamic"] == ["version"]
    source = project["tool"]["hatch"]["version"]
    found = re.search(source["pattern"], (ROOT / source["path"]).read_text(encoding="utf-8"))
    assert found is not None, "the version pattern finds nothing in openapi.yaml"
    assert found["version"] == _contract_version()


def test_the_typescript_package_carries_the_contracts_version() -> None:
    client = ROOT / "clients" / "typescript"
    package = json.loads((client / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((client / "package-lock.json").read_text(encoding="utf-8"))
    contract = _contract_version()
    hint = f"the package is not at {contract}: run 'npm run generate' in {client.relative_to(ROOT)}"
    assert package["version"] == contract, hint
    assert lock["version"] == lock["packages"][""]["version"] == contract, hint
