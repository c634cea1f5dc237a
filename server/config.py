"""Settings, read once from the environment by `load_settings`; nothing here runs at import."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("todo_api")

VALIDATION_MODES = ("full", "requests", "off")
APP_ENVS = ("development", "production")
# An origin as a browser's Origin header carries it: `null` (a sandboxed frame or a file, on any
# site) and what never matches (a path, a trailing slash, upper case) are refused at start-up.
ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?")
MIN_PRODUCTION_SECRET_BYTES = 32
MIN_PRODUCTION_BCRYPT_ROUNDS = 10
DIRECT_CLIENT_CONNECTION_LIMIT = 100  # open connections per client and worker, with no proxy
SIGNUP_WINDOW_SECONDS = 3600  # the window of SIGNUP_LIMIT_PER_HOUR
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
    reminder_interval_seconds: int = 10  # reminders fire within this (and one round trip)
    max_body_bytes: int = 64 * 1024
    # POST /api/{user_id}/import alone takes bodies up to this (10,000 tasks; SPEC §13).
    import_max_bytes: int = 32 * 1024 * 1024
    # Seconds for a request's head to arrive whole (from the connection's opening for its first
    # request, from the first byte for later ones), and for its body after the head: 408.
    request_head_timeout: int = 5
    request_body_timeout: int = 30
    # Open connections per client (TCP peer address, IPv6 by /64) in each worker; 0: no cap.
    # None: DIRECT_CLIENT_CONNECTION_LIMIT, or no cap behind a proxy (PROXIES_COUNT), whose
    # connections all come from one peer (server/system/transport.py).
    client_connection_limit: int | None = None
    db_pool_size: int = 10
    db_connect_timeout: float = 3.0
    db_acquire_timeout: float = 3.0
    db_statement_timeout: float = 5.0
    retry_after_seconds: int = 5
    list_quota: int = 500  # lists per user, the inbox included
    task_quota: int = 50_000  # tasks per user
    comment_quota: int = 1000  # comments per task (those in the trash with it included)
    webhook_quota: int = 10  # webhooks per user
    access_token_quota: int = 50  # unexpired personal access tokens per user
    # Seconds between the writes of personal access tokens' last_used_at (server/access/uses.py)
    token_uses_interval: float = 60.0
    trash_retention_days: int = 30
    changes_retention_days: int = 30  # tombstones of the change feed
    events_heartbeat_seconds: float = 15.0  # a comment line on every idle event stream
    events_per_user: int = 10  # open event streams per user, across the cluster
    # Swagger UI at /console; None follows APP_ENV: on in development, off in production.
    console_enabled: bool | None = None
    metrics_enabled: bool = True
    loop_hold_log_ms: int = 100  # a hold of the event loop longer than this is logged
    # DATABASE_URL points at PgBouncer in transaction mode: no named prepared statements and no
    # session state sent at connect (see server/db/pool.py).
    db_pgbouncer: bool = False
    # A direct connection (never through PgBouncer) for what needs a session: LISTEN.
    database_listen_url: str | None = None
    # Mail and push (SPEC §12). Without smtp_url, mails are written to DATA_DIR/mail/ as .eml
    # (development only); mail_enabled=False turns §12's mail routes into 404s.
    mail_enabled: bool = True
    smtp_url: str | None = None  # smtp://user:pass@host:port (STARTTLS when offered), smtps://
    smtp_timeout: float = 10.0  # seconds for connecting and for each SMTP command
    smtp_ca_file: Path | None = None  # extra CAs to trust for the SMTP server's certificate
    mail_from: str = "Todo <todo@localhost>"
    app_url: str = "http://localhost:3000"  # the frontend: links in mails open its pages
    push_enabled: bool = True
    vapid_private_key: str | None = None  # None: made once in DATA_DIR (development)
    outbox_interval: float = 1.0  # seconds between the senders' looks at the outbox
    outbox_ready_seconds: int = 3600  # /ready is 503 once the oldest unsent row is older
    reset_limit_per_address: int = 5  # password-reset mails per address an hour
    reset_limit_per_client: int = 20  # password-reset requests per client an hour, then 429
    mail_limit_per_account: int = 5  # verification and email-change mails per account an hour
    member_limit: int = 50  # members of a shared list besides its owner (SPEC §11)
    invitation_limit_per_hour: int = 50  # invitations (each a mail) an owner sends an hour
    # Keys sealing webhooks' signing secrets at rest (WEBHOOK_SECRET_KEY, comma-separated: the
    # first seals, the others still open what they sealed until it is re-sealed). Required in
    # production; empty in development: a key derived from JWT_SECRET.
    webhook_secret_keys: tuple[str, ...] = ()

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def console(self) -> bool:
        return not self.production if self.console_enabled is None else self.console_enabled

    @property
    def client_connections(self) -> int:
        """The cap on open connections per client in force (0: none)."""
        if self.client_connection_limit is not None:
            return self.client_connection_limit
        return 0 if self.proxies_count else DIRECT_CLIENT_CONNECTION_LIMIT

    @property
    def validate_responses(self) -> bool:
        return self.openapi_validation == "full"

    @property
    def validate_requests(self) -> bool:
        return self.openapi_validation != "off"


# Whole-number settings: (variable, Settings field, lowest, highest); unset keeps the default.
INT_SETTINGS = (
    ("PORT", "port", 0, 65535),
    ("WORKERS", "workers", 1, 64),
    ("ACCESS_TOKEN_TTL", "access_token_ttl", 1, 7 * 24 * 3600),
    ("REFRESH_TOKEN_TTL", "refresh_token_ttl", 60, 365 * 24 * 3600),
    ("REFRESH_FAMILY_TTL", "refresh_family_ttl", 60, 3650 * 24 * 3600),
    ("BCRYPT_ROUNDS", "bcrypt_rounds", 4, 31),
    ("PROXIES_COUNT", "proxies_count", 0, 10),
    ("DATABASE_POOL_SIZE", "db_pool_size", 1, 200),
    ("LOGIN_LIMIT_PER_EMAIL_CLIENT", "login_limit_per_email_client", 1, 10**9),
    ("LOGIN_LIMIT_PER_EMAIL", "login_limit_per_email", 1, 10**9),
    ("LOGIN_LIMIT_PER_CLIENT", "login_limit_per_client", 1, 10**9),
    ("LOGIN_WINDOW_SECONDS", "login_window_seconds", 1, 7 * 24 * 3600),
    ("LIST_QUOTA", "list_quota", 1, 10**6),
    ("TASK_QUOTA", "task_quota", 1, 10**9),
    ("COMMENT_QUOTA", "comment_quota", 1, 10**6),
    ("WEBHOOK_QUOTA", "webhook_quota", 1, 1000),
    ("ACCESS_TOKEN_QUOTA", "access_token_quota", 1, 1000),
    ("SIGNUP_LIMIT_PER_HOUR", "signup_limit_per_hour", 1, 10**9),
    ("HASH_THREADS", "hash_threads", 1, 64),
    ("HASH_QUEUE_SIZE", "hash_queue_size", 1, 10_000),
    ("PURGE_INTERVAL_SECONDS", "purge_interval_seconds", 1, 24 * 3600),
    ("TRASH_RETENTION_DAYS", "trash_retention_days", 1, 3650),
    ("CHANGES_RETENTION_DAYS", "changes_retention_days", 1, 3650),
    ("REMINDER_INTERVAL_SECONDS", "reminder_interval_seconds", 1, 30),
    ("REQUEST_HEAD_TIMEOUT", "request_head_timeout", 1, 300),
    ("REQUEST_BODY_TIMEOUT", "request_body_timeout", 1, 3600),
    ("CLIENT_CONNECTION_LIMIT", "client_connection_limit", 0, 1_000_000),
    ("LOOP_HOLD_LOG_MS", "loop_hold_log_ms", 50, 60_000),  # shorter holds are not counted
    ("OUTBOX_READY_SECONDS", "outbox_ready_seconds", 1, 7 * 24 * 3600),
    ("RESET_LIMIT_PER_ADDRESS", "reset_limit_per_address", 1, 1000),
    ("RESET_LIMIT_PER_CLIENT", "reset_limit_per_client", 1, 10**9),
    ("MAIL_LIMIT_PER_ACCOUNT", "mail_limit_per_account", 1, 1000),
    ("IMPORT_MAX_BYTES", "import_max_bytes", 64 * 1024, 1024**3),
    ("MEMBER_LIMIT", "member_limit", 1, 10_000),
    ("INVITATION_LIMIT_PER_HOUR", "invitation_limit_per_hour", 1, 10_000),
)


def _int(name: str, raw: str, lo: int, hi: int) -> int:
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


# Yes/no settings: (variable, Settings field); unset keeps the default.
FLAG_SETTINGS = (
    ("METRICS_ENABLED", "metrics_enabled"),
    ("DATABASE_PGBOUNCER", "db_pgbouncer"),
    ("MAIL_ENABLED", "mail_enabled"),
    ("PUSH_ENABLED", "push_enabled"),
)


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
    app_env = env.get("APP_ENV") or Settings.app_env
    if app_env not in APP_ENVS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(APP_ENVS)}, got {app_env!r}")
    production = app_env == "production"
    data_dir = Path(env.get("DATA_DIR") or Settings.data_dir)
    database_url = env.get("DATABASE_URL") or None
    mode = env.get("OPENAPI_VALIDATION") or Settings.openapi_validation
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
    for origin in origins:
        if not ORIGIN.fullmatch(origin):
            raise ConfigError(
                f"CORS_ORIGINS lists origins as a browser sends them (scheme://host[:port],"
                f" lower case, no path; never null, which any site's sandboxed frame sends),"
                f" got {origin!r}"
            )
    numbers: dict[str, Any] = {
        field: _int(name, env[name], lo, hi)
        for name, field, lo, hi in INT_SETTINGS
        if env.get(name)  # unset or empty: the field's default
    }
    flags: dict[str, Any] = {
        field: value for name, field in FLAG_SETTINGS if (value := _flag(env, name)) is not None
    }
    bcrypt_rounds = numbers.get("bcrypt_rounds", Settings.bcrypt_rounds)
    if production and bcrypt_rounds < MIN_PRODUCTION_BCRYPT_ROUNDS:
        raise ConfigError(
            f"APP_ENV=production needs BCRYPT_ROUNDS of at least {MIN_PRODUCTION_BCRYPT_ROUNDS}"
        )
    if not production:
        log.warning("APP_ENV=development: set APP_ENV=production for a deployment")
    reach = _reach(env, production, flags)
    webhook_keys = _webhook_keys(env, production)
    return Settings(
        jwt_secret=secret or _dev_secret(data_dir),
        database_url=database_url,
        app_env=app_env,
        host=env.get("HOST") or Settings.host,
        data_dir=data_dir,
        cors_origins=origins,
        openapi_validation=mode,
        database_listen_url=env.get("DATABASE_LISTEN_URL") or None,
        console_enabled=_flag(env, "CONSOLE_ENABLED"),
        webhook_secret_keys=webhook_keys,
        **numbers,
        **flags,
        **reach,
    )


def _webhook_keys(env: Mapping[str, str], production: bool) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in env.get("WEBHOOK_SECRET_KEY", "").split(",") if k.strip())
    if production and not keys:
        raise ConfigError(
            "APP_ENV=production needs WEBHOOK_SECRET_KEY, the key sealing webhooks' signing"
            " secrets at rest (try: openssl rand -base64 48)"
        )
    if production and any(len(k.encode()) < MIN_PRODUCTION_SECRET_BYTES for k in keys):
        raise ConfigError(
            f"APP_ENV=production needs each WEBHOOK_SECRET_KEY of at least"
            f" {MIN_PRODUCTION_SECRET_BYTES} bytes"
        )
    return keys


def _reach(env: Mapping[str, str], production: bool, flags: Mapping[str, Any]) -> dict[str, Any]:
    """Mail and push settings (SPEC §12). Production needs SMTP_URL, MAIL_FROM and an https
    APP_URL unless MAIL_ENABLED=false, and VAPID_PRIVATE_KEY unless PUSH_ENABLED=false."""
    found: dict[str, Any] = {}
    mail = flags.get("mail_enabled", Settings.mail_enabled)
    smtp_url = env.get("SMTP_URL") or None
    if smtp_url is not None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://...")
        try:
            parts.port  # noqa: B018 - reading it checks it
        except ValueError:
            raise ConfigError("SMTP_URL has a malformed port") from None
        found["smtp_url"] = smtp_url
    if env.get("SMTP_TIMEOUT"):
        found["smtp_timeout"] = float(_int("SMTP_TIMEOUT", env["SMTP_TIMEOUT"], 1, 300))
    if env.get("SMTP_CA_FILE"):
        found["smtp_ca_file"] = Path(env["SMTP_CA_FILE"])
    if env.get("MAIL_FROM"):
        found["mail_from"] = env["MAIL_FROM"].strip()
    if env.get("OUTBOX_INTERVAL_SECONDS"):
        raw = env["OUTBOX_INTERVAL_SECONDS"]
        found["outbox_interval"] = float(_int("OUTBOX_INTERVAL_SECONDS", raw, 1, 60))
    app_url = (env.get("APP_URL") or "").strip().rstrip("/")
    if app_url:
        parts = urlsplit(app_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ConfigError(f"APP_URL must be the frontend's http(s) origin, got {app_url!r}")
        found["app_url"] = app_url
    if production and mail:
        if smtp_url is None:
            raise ConfigError(
                "APP_ENV=production needs SMTP_URL to send mail (or MAIL_ENABLED=false, which"
                " also turns password reset, email verification and email change off)"
            )
        if not env.get("MAIL_FROM"):
            raise ConfigError("APP_ENV=production needs MAIL_FROM (the sender of its mails)")
        if not app_url.startswith("https://"):
            raise ConfigError("APP_ENV=production needs APP_URL, the frontend's https:// origin")
    if env.get("VAPID_PRIVATE_KEY"):
        found["vapid_private_key"] = env["VAPID_PRIVATE_KEY"].strip()
    elif production and flags.get("push_enabled", Settings.push_enabled):
        raise ConfigError(
            "APP_ENV=production needs VAPID_PRIVATE_KEY for Web Push (todo-api vapid makes one),"
            " or PUSH_ENABLED=false"
        )
    return found
