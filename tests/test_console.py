"""The interactive console (Swagger UI at /console), /redoc, and CONSOLE_ENABLED. What the page
does in a browser (every operation rendered, Authorize + Try it out, nothing leaving the origin)
is checked by `make e2e` (clients/typescript/src/console.test.ts)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import ConfigError, Settings, load_settings
from server.resources import CONSOLE_DIR
from tests.support import Api


def _links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_console_page_loads_only_assets_the_service_serves(api: Api) -> None:
    page = api.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = [url for url in _links(page.text) if url != "/docs"]
    assert "/console/assets/swagger-ui-bundle.js" in assets
    assert "/console/assets/swagger-ui.css" in assets
    for url in assets:
        assert url.startswith("/console/assets/"), f"{url} would leave the service"
        assert api.get(url).status_code == 200


def test_console_reads_this_contract_and_asks_no_validator(api: Api) -> None:
    script = api.get("/console/assets/init.js").text
    assert 'url: "/openapi.json"' in script
    assert "validatorUrl: null" in script
    assert "queryConfigEnabled: false" in script


def test_console_and_reference_link_to_each_other(api: Api) -> None:
    assert 'href="/docs"' in api.get("/console").text
    assert '<meta name="todo-api-console" content="/console">' in api.get("/docs").text
    assert "todo-api-console" in api.get("/docs/assets/init.js").text


@pytest.mark.parametrize("path", ["/console", "/console/assets/swagger-ui-bundle.js"])
def test_console_policy_allows_its_own_files_and_nothing_else(api: Api, path: str) -> None:
    csp = api.get(path).headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert "http" not in csp


def test_console_policy_is_no_looser_than_the_reference(api: Api) -> None:
    """Every source the console allows, the reference (/docs) allows too."""

    def sources(path: str) -> dict[str, set[str]]:
        csp = api.get(path).headers["Content-Security-Policy"]
        return {d.split()[0]: set(d.split()[1:]) - {"'none'"} for d in csp.split(";")}

    console, docs = sources("/console"), sources("/docs")
    for directive, allowed in console.items():
        if directive in ("form-action", "base-uri"):
            continue  # not in the reference's policy, whose absence allows any
        assert allowed <= docs.get(directive, docs["default-src"]), directive


def test_redoc_redirects_to_the_reference(api: Api) -> None:
    response = api.get("/redoc")
    assert response.status_code == 301
    assert response.headers["Location"] == "/docs"
    assert not response.content


def test_vendored_swagger_ui_is_the_release_named_with_its_licence() -> None:
    readme = (CONSOLE_DIR / "README.md").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((CONSOLE_DIR / name).read_bytes()).hexdigest()
        assert f"sha256 {digest}  {name}" in readme, f"{name} differs from the release named"
    assert "Apache License" in (CONSOLE_DIR / "LICENSE.swagger-ui").read_text()


@pytest.fixture(scope="module")
def console_off(settings: Settings, make_api: Any) -> Iterator[Api]:
    with make_api(dataclasses.replace(settings, console_enabled=False)) as api:
        yield api


def test_console_switched_off_is_a_404_like_an_unknown_route(console_off: Api) -> None:
    unknown = console_off.get("/no/such/route").json()
    for path in ("/console", "/console/assets/swagger-ui-bundle.js", "/console/assets/init.js"):
        response = console_off.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert (body["type"], body["title"], body["detail"]) == (
            unknown["type"],
            unknown["title"],
            unknown["detail"],
        )


def test_console_switched_off_leaves_the_reference_without_a_link(console_off: Api) -> None:
    docs = console_off.get("/docs")
    assert docs.status_code == 200
    assert "/console" not in docs.text
    assert console_off.get("/redoc").headers["Location"] == "/docs"
    assert "/console" in console_off.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, True),
        ({"APP_ENV": "production"}, False),
        ({"APP_ENV": "production", "CONSOLE_ENABLED": "true"}, True),
        ({"CONSOLE_ENABLED": "off"}, False),
        ({"CONSOLE_ENABLED": "0"}, False),
        ({"CONSOLE_ENABLED": "Yes"}, True),
    ],
)
def test_console_is_on_in_development_and_off_in_production_unless_told(
    tmp_path: Path, env: dict[str, str], enabled: bool
) -> None:
    production = {
        "DATABASE_URL": "postgresql://db/todo",
        "JWT_SECRET": "s" * 48,
        "MAIL_ENABLED": "false",
        "PUSH_ENABLED": "false",
        "WEBHOOK_SECRET_KEY": "w" * 48,
    }
    settings = load_settings({"DATA_DIR": str(tmp_path), **production, **env})
    assert settings.console is enabled


def test_malformed_console_enabled_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CONSOLE_ENABLED"):
        load_settings({"DATA_DIR": str(tmp_path), "CONSOLE_ENABLED": "maybe"})
