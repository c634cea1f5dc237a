"""Service endpoints and what every response carries: docs, contract, ids, headers, CORS, logs."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import re
from typing import Any

import pytest
import yaml

from server.config import Settings
from server.db.pool import DatabaseUnreachable, open_database
from server.errors import to_api_error
from server.system.middleware import DOCS_CSP
from tests import ROOT
from tests.support import Api, User


def test_health_answers_ok(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_answers_and_migrations_applied(api: Api) -> None:
    response = api.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "outbox": {"oldest_unsent_seconds": None}}


def test_user_factory_token_reaches_a_secured_operation(api: Api, user: User) -> None:
    assert api.get("/api/me", headers=user.headers).status_code == 200


def test_contract_is_served_as_yaml_and_json(api: Api) -> None:
    as_yaml = api.get("/openapi.yaml")
    as_json = api.get("/openapi.json")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.text == (ROOT / "openapi.yaml").read_text()
    assert as_json.json() == yaml.safe_load(as_yaml.text)


def test_docs_page_loads_only_assets_the_service_serves(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, "the page names its script and styles"
    for url in assets:
        assert url.startswith("/docs/assets/"), f"{url} would leave the service"
        assert api.get(url).status_code == 200
    fonts = api.get("/docs/assets/fonts.css").text
    for url in re.findall(r'url\("([^"]+)"\)', fonts):
        assert url.startswith("/docs/assets/")
        font = api.get(url)
        assert font.status_code == 200
        assert font.content[:4] == b"wOF2"
    script = api.get("/docs/assets/init.js").text
    assert '"/openapi.json"' in script


def test_docs_allow_their_own_scripts_and_nothing_foreign(api: Api) -> None:
    csp = api.get("/docs").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "http" not in csp


def test_incoming_request_id_is_echoed(api: Api) -> None:
    response = api.get("/health", headers={"X-Request-ID": "abc-123.def"})
    assert response.headers["X-Request-ID"] == "abc-123.def"


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 200, "<script>"])
def test_missing_or_malformed_request_id_is_replaced(api: Api, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    generated = api.get("/health", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


@pytest.mark.parametrize("path", ["/health", "/api/me", "/no/such/route"])
def test_security_headers_on_every_response(api: Api, path: str) -> None:
    headers = api.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/docs/assets/",
        "/docs/assets/init.js/more",
        "/docs/assets/" + "a" * 300,  # longer than a file name may be: ENAMETOOLONG
        "/docs/assets/%00",
        "/docs/assets/init.js%00",
        "/docs/assets/..%2F..%2Fserver",
        "/console/assets/" + "a" * 300,
        "/console/assets/%00",
    ],
)
def test_a_static_path_that_names_no_file_is_not_found(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404  # not a 503 (an OSError is no database outage), no 500
    assert response.json()["status"] == 404


def test_an_oserror_is_an_outage_only_when_it_is_the_databases() -> None:
    assert to_api_error(OSError(errno.ENAMETOOLONG, "File name too long")).status == 500
    assert to_api_error(ValueError("embedded null byte")).status == 500
    for lost in (DatabaseUnreachable("refused"), ConnectionResetError(), TimeoutError()):
        assert to_api_error(lost).status == 503


def test_a_database_socket_that_is_gone_is_an_outage(settings: Settings, tmp_path: Any) -> None:
    """A stopped local PostgreSQL leaves no socket file: FileNotFoundError, an OSError that is
    the database's, read as unreachable (503) where the connection is opened."""

    async def first_query() -> None:
        db = await open_database(settings, f"postgresql://todo@/todo?host={tmp_path}")
        try:
            await db.acquire()
        finally:
            await db.close()

    with pytest.raises(DatabaseUnreachable) as refused:
        asyncio.run(first_query())
    assert to_api_error(refused.value).status == 503


def test_static_files_carry_the_security_headers_and_pages_their_own_policy(api: Api) -> None:
    asset = api.get("/docs/assets/init.js").headers  # a file Sanic answers, not an operation
    assert asset["X-Content-Type-Options"] == "nosniff"
    assert asset["X-Frame-Options"] == "DENY"
    page = api.get("/docs")
    assert page.headers["Cache-Control"] == "public, max-age=300"
    assert page.headers.get_list("Content-Security-Policy") == [DOCS_CSP]


@pytest.fixture(scope="module")
def cors_api(settings: Settings, make_api: Any) -> Any:
    allowed = dataclasses.replace(settings, cors_origins=("http://localhost:5173",))
    with make_api(allowed) as api:
        yield api


def test_cors_preflight_from_a_listed_origin_is_allowed(cors_api: Api) -> None:
    response = cors_api.request(
        "OPTIONS",
        "/api/auth/login",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_cors_response_exposes_headers_to_a_listed_origin(cors_api: Api) -> None:
    response = cors_api.get("/health", headers={"Origin": "http://localhost:5173"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "etag" in response.headers["Access-Control-Expose-Headers"].lower()


def test_cors_ignores_an_unlisted_origin(cors_api: Api) -> None:
    response = cors_api.request(
        "OPTIONS",
        "/api/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    plain = cors_api.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_no_cors_headers_in_production_when_no_origins_are_configured(
    settings: Settings, make_api: Any
) -> None:
    """Development's local origins (tests/test_cors.py) are not production's."""
    production = dataclasses.replace(settings, app_env="production")
    with make_api(production) as api:
        response = api.get("/health", headers={"Origin": "http://localhost:5173"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_each_request_is_logged_as_one_structured_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="todo_api.access"):
        api.get("/health", headers={"X-Request-ID": "log-me-1"})
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == "log-me-1"]
    assert len(lines) == 1
    line = lines[0]
    assert (line.method, line.path, line.status) == ("GET", "/health", 200)  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]


def test_json_formatter_writes_one_json_object_per_line() -> None:
    import json

    from server.observability.logs import JsonFormatter

    record = logging.makeLogRecord(
        {"name": "todo_api.access", "msg": "request", "levelname": "INFO", "status": 201}
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["status"] == 201


@pytest.mark.parametrize("path", ["/docs", "/console", "/health", "/openapi.json", "/api/me"])
def test_head_answers_like_get_without_a_body(api: Api, user: User, path: str) -> None:
    """RFC 9110 §9.3.2: HEAD is GET's answer without its content. The contract declares GET;
    a HEAD (proxies' and link checkers' probe) is that operation, never a 500."""
    got = api.get(path, headers=user.headers)
    head = api.request("HEAD", path, headers=user.headers, check=False)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_keeps_the_get_operations_refusals(api: Api, user: User) -> None:
    tasks = f"/api/{user.id}/tasks"
    refused = api.request("HEAD", f"{tasks}?limit=abc", headers=user.headers, check=False)
    assert refused.status_code == 400
    assert api.request("HEAD", "/api/me", check=False).status_code == 401
