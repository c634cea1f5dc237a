"""Settings, read once from the environment by `load_settings`; nothing here runs at import."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("todo_api")

VALIDATION_MODES = ("full", "requests", "off")
APP_ENVS = ("development", "production")
MIN_PRODUCTION_SECRET_BYTES = 32
MIN_PRODUCTION_BCRYPT_ROUNDS = 10


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    jwt_secret: str
    database_url: str | None = None
    app_env: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Path(".data")
    access_token_ttl: int = 1800
    refresh_token_ttl: int = 30 * 24 * 3600
    refresh_family_ttl: int = 90 * 24 * 3600
    bcrypt_rounds: int = 12
    cors_origins: tuple[str, ...] = ()
    openapi_validation: str = "full"
    proxies_count: int = 0
    jwt_issuer: str = "todo-api"
    jwt_audience: str = "todo-api"
    clock_skew_seconds: int = 30  # exp and iat of access tokens
    login_limit_per_email_client: int = 10
    login_limit_per_email: int = 100
    login_limit_per_client: int = 100
    login_window_seconds: int = 900
    signup_limit_per_hour: int = 20
    hash_threads: int = 2
    hash_queue_size: int = 32
    purge_interval_seconds: int = 300
    max_body_bytes: int = 64 * 1024
    db_pool_size: int = 10
    db_connect_timeout: float = 3.0
    db_acquire_timeout: float = 3.0
    db_statement_timeout: float = 5.0
    retry_after_seconds: int = 5

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def validate_responses(self) -> bool:
        return self.openapi_validation == "full"

    @property
    def validate_requests(self) -> bool:
        return self.openapi_validation != "off"


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _dev_secret(data_dir: Path) -> str:
    """A development JWT secret, made once and kept in DATA_DIR so restarts keep sessions."""
    path = data_dir / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    log.warning("JWT_SECRET is not set: generated a development secret in %s", path)
    return secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, refusing what production must not run with."""
    env = os.environ if env is None else env
    app_env = env.get("APP_ENV") or "development"
    if app_env not in APP_ENVS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, got {app_env!r}")
    production = app_env == "production"
    data_dir = Path(env.get("DATA_DIR") or ".data")
    database_url = env.get("DATABASE_URL") or None
    mode = env.get("OPENAPI_VALIDATION") or "full"
    if mode not in VALIDATION_MODES:
        raise ConfigError(f"OPENAPI_VALIDATION must be one of {', '.join(VALIDATION_MODES)}")
    secret = env.get("JWT_SECRET") or ""
    if production:
        if not database_url:
            raise ConfigError(
                "APP_ENV=production needs DATABASE_URL (the embedded database is for development)"
            )
        if len(secret.encode()) < MIN_PRODUCTION_SECRET_BYTES:
            raise ConfigError(
                f"APP_ENV=production needs a JWT_SECRET of at least "
                f"{MIN_PRODUCTION_SECRET_BYTES} bytes (try: openssl rand -base64 48)"
            )
    origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
    if any("*" in origin for origin in origins):
        raise ConfigError("CORS_ORIGINS lists exact origins; a wildcard is not allowed")
    bcrypt_rounds = _int(env, "BCRYPT_ROUNDS", 12, 4, 31)
    if production and bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
        raise ConfigError(
            f"APP_ENV=production needs BCRYPT_ROUNDS of at least {MIN_PRODUCTION_BCRYPT_ROUNDS}"
        )
    if not production:
        log.warning("APP_ENV=development: set APP_ENV=production for a deployment")
    return Settings(
        jwt_secret=secret or _dev_secret(data_dir),
        database_url=database_url,
        app_env=app_env,
        host=env.get("HOST") or "127.0.0.1",
        port=_int(env, "PORT", 8000, 0, 65535),
        workers=_int(env, "WORKERS", 1, 1, 64),
        data_dir=data_dir,
        access_token_ttl=_int(env, "ACCESS_TOKEN_TTL", 1800, 1, 7 * 24 * 3600),
        refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL", 30 * 24 * 3600, 60, 365 * 24 * 3600),
        refresh_family_ttl=_int(env, "REFRESH_FAMILY_TTL", 90 * 24 * 3600, 60, 3650 * 24 * 3600),
        bcrypt_rounds=bcrypt_rounds,
        cors_origins=origins,
        openapi_validation=mode,
        proxies_count=_int(env, "PROXIES_COUNT", 0, 0, 10),
        db_pool_size=_int(env, "DATABASE_POOL_SIZE", 10, 1, 200),
        login_limit_per_email_client=_int(env, "LOGIN_LIMIT_PER_EMAIL_CLIENT", 10, 1, 10**9),
        login_limit_per_email=_int(env, "LOGIN_LIMIT_PER_EMAIL", 100, 1, 10**9),
        login_limit_per_client=_int(env, "LOGIN_LIMIT_PER_CLIENT", 100, 1, 10**9),
        login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 900, 1, 7 * 24 * 3600),
        signup_limit_per_hour=_int(env, "SIGNUP_LIMIT_PER_HOUR", 20, 1, 10**9),
        hash_threads=_int(env, "HASH_THREADS", 2, 1, 64),
        hash_queue_size=_int(env, "HASH_QUEUE_SIZE", 32, 1, 10_000),
        purge_interval_seconds=_int(env, "PURGE_INTERVAL_SECONDS", 300, 1, 24 * 3600),
    )
