"""Service endpoints: liveness, readiness, the docs and the contract."""

from __future__ import annotations

import yaml

from tests.support import Api


def test_health_answers_ok_without_database(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_answers_and_migrations_applied(api: Api) -> None:
    response = api.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_user_factory_token_reaches_a_secured_operation(api: Api, auth_headers: dict) -> None:
    response = api.get("/api/me", headers=auth_headers)
    assert response.status_code == 501
