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
MIN_PRODUCTION_SECRET_BYTES = 32
FLAGS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


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
    bcrypt_rounds: int = 12
    cors_origins: tuple[str, ...] = ()
    openapi_validation: str = "full"
    proxies_count: int = 0
    jwt_issuer: str = "todo-api"
    jwt_audience: str = "todo-api"
    login_limit_per_email: int = 10
    login_limit_per_client: int = 100
    login_window_seconds: int = 900
    max_body_bytes: int = 64 * 1024
    db_pool_size: int = 10
    db_connect_timeout: float = 3.0
    db_acquire_timeout: float = 3.0
    db_statement_timeout: float = 5.0
    retry_after_seconds: int = 5
    # Swagger UI at /console; None follows APP_ENV: on in development, off in production.
    console_enabled: bool | None = None

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def console(self) -> bool:
        return not self.production if self.console_enabled is None else self.console_enabled

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


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in FLAGS:
        return FLAGS[raw]
    raise ConfigError(f"{name} must be true or false (or 1/0, yes/no, on/off), got {raw!r}")


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
    app_env = env.get("APP_ENV", "development") or "development"
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
    if "*" in origins:
        raise ConfigError("CORS_ORIGINS lists exact origins; '*' is not allowed")
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
        bcrypt_rounds=_int(env, "BCRYPT_ROUNDS", 12, 4, 31),
        cors_origins=origins,
        openapi_validation=mode,
        proxies_count=_int(env, "PROXIES_COUNT", 0, 0, 10),
        db_pool_size=_int(env, "DATABASE_POOL_SIZE", 10, 1, 200),
        login_limit_per_email=_int(env, "LOGIN_LIMIT_PER_EMAIL", 10, 1, 10**9),
        login_limit_per_client=_int(env, "LOGIN_LIMIT_PER_CLIENT", 100, 1, 10**9),
        login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", 900, 1, 7 * 24 * 3600),
        console_enabled=_flag(env, "CONSOLE_ENABLED"),
    )
