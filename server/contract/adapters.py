"""The adapters that hand openapi-core what it reads: a request (any of sanic's), a batch item's
body alone, a reply not sent yet; and the query of a request as sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson
from openapi_core.datatypes import RequestParameters
from sanic.compat import Header
from werkzeug.datastructures import Headers, ImmutableMultiDict

from server.contract.loading import Operation


class HttpRequest(Protocol):
    """What the contract machinery reads of a request: any of sanic's (the service's own
    Request, server/contract/context.py, types what this module stands under)."""

    @property
    def headers(self) -> Header: ...
    @property
    def body(self) -> bytes: ...
    @property
    def match_info(self) -> Mapping[str, str]: ...
    @property
    def cookies(self) -> Mapping[str, Any]: ...
    @property
    def path(self) -> str: ...
    @property
    def query_string(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def host(self) -> str: ...
    def get_query_args(
        self,
        keep_blank_values: bool = False,
        strict_parsing: bool = False,
        encoding: str = "utf-8",
        errors: str = "replace",
    ) -> list[tuple[str, str]]: ...


def query_args(request: HttpRequest) -> list[tuple[str, str]]:
    """The query as sent: `?q=` is an empty `q` (which the contract may refuse), not no `q`;
    bytes that are not UTF-8 are kept as lone surrogates (not replaced by U+FFFD), for the
    storable-text check to refuse."""
    return list(request.get_query_args(keep_blank_values=True, errors="surrogateescape"))


class SanicOpenAPIRequest:
    """openapi-core's Request protocol over a Sanic request (path parameters already matched)."""

    def __init__(self, request: HttpRequest, operation: Operation) -> None:
        self.request = request
        self.operation = operation
        self.path_pattern = operation.path
        # HEAD is routed to the GET operation (RFC 9110 §9.3.2: GET's answer without its body),
        # so it is validated as that operation, whose method the contract declares.
        self.method = operation.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query_args(request)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(
                [(name, request.cookies.get(name)) for name in request.cookies]
            ),
            path=dict(request.match_info),
        )

    @property
    def host_url(self) -> str:
        return f"{self.request.scheme}://{self.request.host}"

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def body(self) -> bytes | None:
        return self.request.body or None

    @property
    def content_type(self) -> str:
        return str(self.request.headers.get("content-type", "")).lower()


class OpenAPIBody:
    """openapi-core's Request protocol for a JSON body alone, as `operation` would be sent it
    (a batch item's): its path is the operation's own template, which matches itself."""

    def __init__(self, request: HttpRequest, operation: Operation, body: Any) -> None:
        self.host_url = f"{request.scheme}://{request.host}"
        self.path = self.path_pattern = operation.path
        self.method = operation.method.lower()
        self.parameters = RequestParameters()
        self.body = orjson.dumps(body)
        self.content_type = "application/json"


class SanicOpenAPIResponse:
    """openapi-core's Response protocol over a reply that has not been sent yet."""

    def __init__(
        self, status: int, headers: Mapping[str, str], content_type: str, data: bytes | None
    ) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.content_type = content_type
        self.data = data
