"""ApiError subclasses, and to_api_error: what any exception is as an answer to a client (the answer
itself leaves by server/contract/problems.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import asyncpg
from sanic.exceptions import PayloadTooLarge, SanicException

log = logging.getLogger("todo_api")

NO_ROUTE = "No route matches this path."
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An answer other than success: status, a stable type slug and a human sentence."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    default_detail: ClassVar[str] = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.members = dict(members or {})  # the problem's extension members, beside `errors`
        super().__init__(self.detail)

    @classmethod
    def at(cls, loc: list[Any], msg: str, kind: str, detail: str | None = None) -> Self:
        """One error located at `loc`, such as ["body", "title"] or ["query", "cursor"]."""
        return cls(detail, errors=[{"loc": loc, "msg": msg, "type": kind}])


class BadRequest(ApiError):
    status, slug = 400, "bad-request"
    default_detail = "The request is malformed."


class BadParameters(BadRequest):
    default_detail = "A path, query or header parameter is invalid."


class Unauthorized(ApiError):
    status, slug = 401, "unauthorized"
    default_detail = "A valid bearer access token is required."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="todo-api"'})


class AccountGone(Unauthorized):
    default_detail = "The access token was revoked, or its account no longer exists."


class Forbidden(ApiError):
    status, slug = 403, "forbidden"
    default_detail = "You may not act on this resource."


class PermissionDenied(ApiError):
    """The caller belongs to the list but its role there is below the operation's (issue 26)."""

    status, slug = 403, "permission-denied"
    default_detail = "Your role on this list does not allow this."


class InsufficientScope(ApiError):
    """A personal access token without a scope the operation needs, or on an operation only a
    session may call (issue 27): 403 naming what is needed, with RFC 6750's challenge."""

    status, slug = 403, "insufficient-scope"

    def __init__(self, needed: tuple[str, ...]) -> None:
        if needed:
            detail = f"This needs a token with the scope(s) {', '.join(needed)}, or a session."
            challenge = (
                f'Bearer realm="todo-api", error="insufficient_scope", scope="{" ".join(needed)}"'
            )
        else:
            detail = "A personal access token cannot do this; sign in (a session's access token)."
            challenge = 'Bearer realm="todo-api", error="insufficient_scope"'
        super().__init__(
            detail,
            headers={"WWW-Authenticate": challenge},
            members={"required_scopes": list(needed)},
        )


class NotFound(ApiError):
    status, slug = 404, "not-found"
    default_detail = "No such resource."


class Conflict(ApiError):
    status, slug = 409, "conflict"
    default_detail = "The request conflicts with the current state of the resource."


class EmailTaken(Conflict):
    slug = "email-taken"
    default_detail = "An account with this email address already exists."


class QuotaExceeded(Conflict):
    slug = "quota-exceeded"


class InboxKept(Conflict):
    slug = "inbox-kept"
    default_detail = "The inbox cannot be deleted (it can be renamed and moved)."


class PreconditionFailed(ApiError):
    """Carries the resource's current ETag, so a client can show what changed and retry."""

    status, slug = 412, "precondition-failed"
    default_detail = (
        "The resource has changed since you read it (If-Match did not match): the ETag header"
        " holds its current tag; read it again, then retry with that tag in If-Match."
    )

    def __init__(self, current_etag: str, detail: str | None = None) -> None:
        super().__init__(detail, headers={"ETag": current_etag})


class UnsupportedMediaType(ApiError):
    status, slug = 415, "unsupported-media-type"
    default_detail = "Send the body as application/json."


class UnprocessableContent(ApiError):
    status, slug = 422, "validation-error"
    default_detail = "The request body does not match the schema."

    @classmethod
    def at(cls, loc: list[Any], msg: str, kind: str, detail: str | None = None) -> Self:
        """A body the schema accepts that the service cannot apply (another user's list, a rule
        outside the subset): its detail is the error as a sentence, not the schema's."""
        return super().at(loc, msg, kind, detail or _sentence(loc, msg))


class TooManyRequests(ApiError):
    status, slug = 429, "too-many-requests"
    default_detail = "Too many failed attempts; try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class HeadTooLarge(ApiError):
    status, slug = 431, "request-header-fields-too-large"
    default_detail = "The request line and headers are larger than the server accepts."


class ServiceUnavailable(ApiError):
    status, slug = 503, "service-unavailable"
    default_detail = "The database is unavailable; retry shortly."

    def __init__(self, retry_after: int = 5, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


BUSY = "The database is busy: no connection came free in time; retry shortly."


class StatementTimeout(ServiceUnavailable):
    default_detail = (
        "The request took longer than the service allows, and changed nothing; retry later,"
        " or in smaller parts."
    )


PREDICATES = {"is", "must", "needs", "would", "no", "already", "has", "takes"}


def _sentence(loc: list[Any], msg: str) -> str:
    """["body", "reminders", 0, "at"], "must be ..." -> "reminders.0.at must be ..."."""
    field = ".".join(map(str, loc[1:] if loc[:1] == ["body"] else loc))
    joined = " " if msg.split(" ", 1)[0] in PREDICATES else ": "
    return f"{field or 'The request body'}{joined}{msg}."


# What a lost or unreachable database raises (server/db/pool.py makes any OSError of opening
# a connection a ConnectionError); any other OSError is a bug of ours, not an outage.
DATABASE_DOWN = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.QueryCanceledError,
    asyncpg.InternalClientError,  # a connection left mid-operation as the database went away
    TimeoutError,  # no connection came free in time, or a statement ran out of it
    ConnectionError,
)


def to_api_error(exc: BaseException, retry_after: int = 5) -> ApiError:
    """Map any exception to the ApiError a client may see; internals stay in the log."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, asyncpg.QueryCanceledError):  # the database is up: it said so
        log.warning("statement cancelled: %s", exc)
        return StatementTimeout(retry_after)
    if isinstance(exc, DATABASE_DOWN):
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        # a wait for a connection (or a statement) ran out: up, but every connection in use
        return ServiceUnavailable(retry_after, BUSY if isinstance(exc, TimeoutError) else None)
    if isinstance(exc, PayloadTooLarge) and "header" in str(exc):  # Sanic says 413 for both
        return HeadTooLarge()
    if isinstance(exc, SanicException) and 400 <= exc.status_code < 500:
        error = ApiError(_sanic_detail(exc), headers=getattr(exc, "headers", None))
        error.status = exc.status_code  # type: ignore[misc]
        error.slug = TITLES.get(exc.status_code, "error").lower().replace(" ", "-")  # type: ignore[misc]
        return error
    log.error("unhandled error", exc_info=exc)
    return ApiError()


def _sanic_detail(exc: SanicException) -> str:
    status = exc.status_code
    if status == 404:
        return NO_ROUTE
    if status == 405:
        return "This path does not support that method; see the Allow header."
    if status == 413:
        return "The request body is larger than the server accepts."
    return str(exc) or TITLES.get(status, "The request could not be handled.")
