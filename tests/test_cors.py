"""CORS as a frontend developer meets it: in development a local dev server's origin
(`http://localhost:<port>`, `http://127.0.0.1:<port>`) works with no configuration, preflight
and actual requests, credentials included (browser mode's cookies); a refused origin is logged
once, naming the setting that allows it; production allows the configured origins alone."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from server.config import Settings
from tests.support import Api

EVENTS_PREFLIGHT_HEADERS = "last-event-id, x-auth-mode, content-type, authorization"


def preflight(api: Api, path: str, origin: str, method: str = "GET") -> Any:
    return api.request(
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": EVENTS_PREFLIGHT_HEADERS,
        },
    )


@pytest.fixture(scope="module")
def production_api(settings: Settings, make_api: Any) -> Iterator[Api]:
    configured = ("https://app.example.org",)
    production = dataclasses.replace(settings, app_env="production", cors_origins=configured)
    with make_api(production) as api:
        yield api


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://localhost"]
)
def test_a_local_dev_server_is_allowed_in_development_without_configuration(
    api: Api, origin: str
) -> None:
    answer = preflight(api, "/api/auth/refresh", origin, "POST")
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    actual = api.get("/health", headers={"Origin": origin})
    assert actual.headers["Access-Control-Allow-Origin"] == origin
    assert actual.headers["Access-Control-Allow-Credentials"] == "true"
    assert actual.headers["Vary"].lower() == "origin"


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_an_answer_without_cors_headers_still_varies_by_origin(
    api: Api, origin: str | None
) -> None:
    """/docs may be kept by a shared cache (public, 5 minutes): the answer to a request with no
    Origin (or a refused one) has no Access-Control-Allow-Origin, and a cache that kept it
    without Vary: Origin would serve it to an allowed dev server, whose read CORS then blocks."""
    answer = api.get("/docs", headers={"Origin": origin} if origin else {})
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert answer.headers["Vary"].lower() == "origin"


def test_eventsources_reconnection_header_passes_the_preflight(api: Api, user: Any) -> None:
    """EventSource reconnects with Last-Event-ID; browser mode sends X-Auth-Mode."""
    answer = preflight(api, f"/api/{user.id}/events", "http://localhost:5173")
    allowed = {h.strip() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"last-event-id", "x-auth-mode", "content-type", "authorization"} <= allowed


def test_eventsources_reconnection_header_passes_a_configured_origins_preflight(
    production_api: Api,
) -> None:
    answer = preflight(production_api, "/api/auth/login", "https://app.example.org", "POST")
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert "last-event-id" in answer.headers["Access-Control-Allow-Headers"].split(",")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost.evil.example",
        "https://localhost:5173",  # not a plain local dev server
        "http://localhost:5173.evil.example",
        "http://127.0.0.1.evil.example:80",
        "http://[::1]:5173",
        "null",
    ],
)
def test_what_only_looks_local_is_refused_in_development(api: Api, origin: str) -> None:
    answer = preflight(api, "/api/auth/login", origin, "POST")
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert (
        "Access-Control-Allow-Origin" not in api.get("/health", headers={"Origin": origin}).headers
    )


def test_a_refused_origin_is_logged_once_with_the_setting_that_allows_it(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    origin = "https://frontend.example.net"
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        for _ in range(3):
            answer = preflight(api, "/api/auth/login", origin, "POST")
            assert "Access-Control-Allow-Origin" not in answer.headers
    lines = [r.getMessage() for r in caplog.records if origin in r.getMessage()]
    assert lines == [
        "CORS: refused origin 'https://frontend.example.net'; to allow it, add it to "
        "CORS_ORIGINS (comma-separated exact origins, e.g. "
        "CORS_ORIGINS=https://frontend.example.net)"
    ]


def test_the_services_own_origin_is_never_logged_as_refused(
    production_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Its own pages (/console) send their origin on a POST; production lists no local one."""
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        production_api.get("/health", headers={"Origin": production_api.base})
    assert not [r for r in caplog.records if "CORS" in r.getMessage()]


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000"])
def test_production_refuses_local_origins_and_logs_them(
    production_api: Api, origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="todo_api"):
        answer = preflight(production_api, "/api/auth/login", origin, "POST")
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Credentials" not in answer.headers
    plain = production_api.get("/health", headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in plain.headers
    (line,) = [r.getMessage() for r in caplog.records if origin in r.getMessage()]
    assert line.endswith(f"e.g. CORS_ORIGINS=https://app.example.org,{origin})")


def test_production_allows_its_configured_origin_with_credentials(production_api: Api) -> None:
    answer = production_api.get("/health", headers={"Origin": "https://app.example.org"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
