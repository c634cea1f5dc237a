"""ApiResponse sends its headers exactly as Sanic's own response would, CR/LF/NUL removed."""

from __future__ import annotations

from collections.abc import Iterable

from sanic import HTTPResponse

from server.contract.reply import JSON, ApiResponse
from server.system.middleware import API_HEADERS


def test_headers_go_out_as_sanic_sends_them_injection_stripped() -> None:
    headers = {
        **API_HEADERS,
        "X-Request-ID": "abc",
        "Location": "/api/x\r\nSet-Cookie: stolen=1",
        "ETag": '"3"\x00',
        "X-Empty": "",
    }
    ours = list(ApiResponse(b"{}", 201, headers, content_type=JSON).processed_headers)
    sanics = list(HTTPResponse(b"{}", 201, headers, content_type=JSON).processed_headers)
    assert ours == sanics
    assert (b"Location", b"/api/xSet-Cookie: stolen=1") in ours
    assert (b"content-type", JSON.encode()) in ours


def test_security_headers_go_out_unless_the_answer_names_its_own() -> None:
    own = {"X-Request-ID": "abc", "cache-control": "public, max-age=300"}
    ours = list(ApiResponse(b"{}", 200, own, content_type=JSON).processed_headers)
    expected = {**API_HEADERS, "Cache-Control": "public, max-age=300", "X-Request-ID": "abc"}
    sanics = HTTPResponse(b"{}", 200, expected, content_type=JSON).processed_headers
    assert _by_name(ours) == _by_name(sanics)
    assert [name.lower() for name, _ in ours].count(b"cache-control") == 1


def _by_name(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return sorted((name.lower(), value) for name, value in headers)


def test_defaults_added_again_still_go_out_once() -> None:
    ApiResponse.add_by_default(API_HEADERS)  # as a second import of the middleware would
    sent = list(ApiResponse(b"{}", 200, {}, content_type=JSON).processed_headers)
    assert len(_by_name(sent)) == len({name.lower() for name, _ in sent}) == len(API_HEADERS) + 1
