"""Start-up refuses a contract and handlers that disagree, and settings production can't run."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sanic import Request

from server import handlers
from server.app import StartupError, create_app
from server.config import ConfigError, Settings, load_settings
from server.contract.reply import Reply
from tests.support import Api

STRONG = "s" * 48
# What production needs besides its database and secret: mail and push (SPEC §12).
REACH = {
    "SMTP_URL": "smtp://mail.example.org:587",
    "MAIL_FROM": "Todo <todo@example.org>",
    "APP_URL": "https://todo.example.org",
    "VAPID_PRIVATE_KEY": "q7ZbT1m7bGmkRlb0jlJpWkAFn2PI9Lqz1FkR0P9oF0o",
    "WEBHOOK_SECRET_KEY": "w" * 48,
}


def test_operation_without_handler_stops_startup(settings: Settings) -> None:
    implemented = {k: v for k, v in handlers.collect().items() if k != "health"}
    with pytest.raises(StartupError, match="operation 'health' has no handler"):
        create_app(settings, name="missing_handler", implemented=implemented)


def test_handler_without_operation_stops_startup(settings: Settings) -> None:
    async def archive_everything(request: Request) -> Reply:
        return Reply()

    implemented = {**handlers.collect(), "archive_everything": archive_everything}
    with pytest.raises(StartupError, match="handler 'archive_everything' has no operation"):
        create_app(settings, name="extra_handler", implemented=implemented)


async def _leaky_health(request: Request) -> Reply:
    return Reply({"status": "ok", "password_hash": "$2b$12$..."})


def _with_leaky_health(settings: Settings, make_api: Any, mode: str) -> Api:
    implemented = {**handlers.collect(), "health": _leaky_health}
    return make_api(dataclasses.replace(settings, openapi_validation=mode), implemented=implemented)


def test_response_breaking_the_contract_becomes_500(settings: Settings, make_api: Any) -> None:
    with _with_leaky_health(settings, make_api, "full") as api:
        response = api.get("/health")
    assert response.status_code == 500
    assert "password_hash" not in response.text


def test_response_validation_can_be_switched_off_for_measurement(
    settings: Settings, make_api: Any
) -> None:
    with _with_leaky_health(settings, make_api, "requests") as api:
        response = api.request("GET", "/health", check=False)
    assert response.status_code == 200
    assert response.json()["password_hash"]


def test_production_without_database_url_is_refused(tmp_path: Path) -> None:
    env = {"APP_ENV": "production", "JWT_SECRET": STRONG, "DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings(env)


@pytest.mark.parametrize("secret", ["", "short-secret", "x" * 31])
def test_production_with_weak_jwt_secret_is_refused(tmp_path: Path, secret: str) -> None:
    env = {"APP_ENV": "production", "DATABASE_URL": "postgresql://db/todo", "JWT_SECRET": secret}
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings({**env, "DATA_DIR": str(tmp_path)})


def test_production_with_database_and_strong_secret_starts(tmp_path: Path) -> None:
    env = {
        **REACH,
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql://db/todo",
        "JWT_SECRET": STRONG,
    }
    settings = load_settings({**env, "DATA_DIR": str(tmp_path)})
    assert settings.production
    assert not (tmp_path / "jwt-secret").exists()


@pytest.mark.parametrize("keys", ["", " , ", "short-key", f"{STRONG},{'x' * 31}"])
def test_production_refuses_to_start_without_a_strong_webhook_secret_key(
    tmp_path: Path, keys: str
) -> None:
    env = {**REACH, "APP_ENV": "production", "DATABASE_URL": "postgresql://db/todo"}
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET_KEY"):
        load_settings(
            {**env, "JWT_SECRET": STRONG, "WEBHOOK_SECRET_KEY": keys, "DATA_DIR": str(tmp_path)}
        )
    settings = load_settings(
        {**env, "JWT_SECRET": STRONG, "WEBHOOK_SECRET_KEY": f" {STRONG}, {'o' * 40} "}
        | {"DATA_DIR": str(tmp_path)}
    )
    assert settings.webhook_secret_keys == (STRONG, "o" * 40)


def test_development_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)}).jwt_secret
    second = load_settings({"DATA_DIR": str(tmp_path)}).jwt_secret
    assert first == second
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "jwt-secret").st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("WORKERS", "0"),
        ("BCRYPT_ROUNDS", "3"),
        ("OPENAPI_VALIDATION", "sometimes"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "null"),  # any site's sandboxed frame: browser mode's CSRF from anywhere
        ("CORS_ORIGINS", "https://app.example.org, null"),
        ("CORS_ORIGINS", "https://app.example.org/"),  # never matches: Origin has no path
        ("CORS_ORIGINS", "https://App.example.org"),
        ("CORS_ORIGINS", "app.example.org"),
        ("METRICS_ENABLED", "maybe"),
        ("DATABASE_PGBOUNCER", "2"),
    ],
)
def test_malformed_setting_is_refused_with_its_name(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"DATA_DIR": str(tmp_path), name: value})


def test_defaults_match_the_specification(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.access_token_ttl == 1800
    assert settings.refresh_token_ttl == 30 * 24 * 3600
    assert settings.bcrypt_rounds == 12
    assert settings.openapi_validation == "full"
    assert settings.database_url is None


def test_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "HOST": "0.0.0.0",  # noqa: S104
        "PORT": "9000",
        "WORKERS": "4",
        "ACCESS_TOKEN_TTL": "60",
        "REFRESH_TOKEN_TTL": "3600",
        "BCRYPT_ROUNDS": "10",
        "CORS_ORIGINS": "http://localhost:5173, https://app.example.org",
        "OPENAPI_VALIDATION": "requests",
        "LOGIN_LIMIT_PER_EMAIL": "5",
        "LOGIN_LIMIT_PER_CLIENT": "50",
        "LOGIN_WINDOW_SECONDS": "60",
    }
    settings = load_settings(env)
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 9000, 4)  # noqa: S104
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (60, 3600)
    assert settings.bcrypt_rounds == 10
    assert settings.cors_origins == ("http://localhost:5173", "https://app.example.org")
    assert not settings.validate_responses
    assert (settings.login_limit_per_email, settings.login_limit_per_client) == (5, 50)
    assert settings.login_window_seconds == 60


@pytest.mark.parametrize("app_env", ["prod", "Production", "test", "staging"])
def test_an_unknown_app_env_stops_start_up(tmp_path: Path, app_env: str) -> None:
    with pytest.raises(ConfigError, match="APP_ENV"):
        load_settings({"DATA_DIR": str(tmp_path), "APP_ENV": app_env})


def test_development_is_the_default_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "JWT_SECRET": STRONG})
    assert settings.app_env == "development"
    assert "APP_ENV=development" in caplog.text


@pytest.mark.parametrize(
    ("name", "value"),
    [("BCRYPT_ROUNDS", "9"), ("CORS_ORIGINS", "https://*.example.org")],
)
def test_production_refuses_weak_settings(tmp_path: Path, name: str, value: str) -> None:
    env = {"APP_ENV": "production", "DATABASE_URL": "postgresql://db/todo", "JWT_SECRET": STRONG}
    with pytest.raises(ConfigError, match=name):
        load_settings({**env, "DATA_DIR": str(tmp_path), name: value})


def test_the_limits_default_to_the_specification(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    limits = (
        settings.login_limit_per_email_client,
        settings.login_limit_per_email,
        settings.login_limit_per_client,
        settings.login_window_seconds,
    )
    assert limits == (10, 100, 100, 900)
    assert settings.signup_limit_per_hour == 20
    assert settings.refresh_family_ttl == 90 * 24 * 3600


def test_unset_and_empty_variables_take_the_settings_defaults(tmp_path: Path) -> None:
    names = ["PORT", "WORKERS", "BCRYPT_ROUNDS", "HOST", "APP_ENV", "OPENAPI_VALIDATION"]
    env = {"JWT_SECRET": STRONG, "DATA_DIR": str(tmp_path), **dict.fromkeys(names, "")}
    assert load_settings(env) == Settings(jwt_secret=STRONG, data_dir=tmp_path)


def test_scale_settings_default_to_one_direct_connection_with_metrics(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.metrics_enabled
    assert not settings.db_pgbouncer
    assert settings.database_listen_url is None
    env = {
        "DATA_DIR": str(tmp_path),
        "METRICS_ENABLED": "off",
        "DATABASE_PGBOUNCER": "true",
        "DATABASE_LISTEN_URL": "postgresql://direct/todo",
    }
    settings = load_settings(env)
    assert not settings.metrics_enabled
    assert settings.db_pgbouncer
    assert settings.database_listen_url == "postgresql://direct/todo"
