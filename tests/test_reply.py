"""ApiResponse sends its headers exactly as Sanic's own response would, CR/LF/NUL removed."""

from __future__ import annotations

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
