"""A webhook's URL is written by a client: in production the service never POSTs into its own
network through it (server/http/egress.py, server/webhooks/targets.py). Refused when registered
(422), whether the URL names such an address or a name that resolves to one; and again at each
delivery, since a name's answer may change after it was checked (DNS rebinding). Resolution is
faked (socket.getaddrinfo): no traffic leaves the machine."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from server.webhooks.deliver import WebhookPoster
from server.webhooks.events import payload
from server.webhooks.signing import new_secret
from tests.hookbox import Hookbox
from tests.support import Api, User

PRIVATE_LITERALS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1:5432/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:a00:1]/hook",  # 10.0.0.1, IPv4-mapped
    "https://10.0.0.5/hook",
    "https://192.168.1.1/hook",
    "https://172.16.0.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://localhost:8443/hook",
    "https://hooks.localhost/hook",
    "https://[fe80::1]/hook",
    "https://2130706433/hook",
    "https://0x7f.1/hook",
    # IPv6 addresses carrying a private IPv4 one, and the IETF protocol block
    "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "https://[64:ff9b:1::5db8:d822]/hook",  # local-use NAT64: a network of its own
    "https://[::127.0.0.1]/hook",  # IPv4-compatible
    "https://192.0.0.8/hook",
]
RESOLVED = {  # name -> the addresses the faked resolver answers
    "loopback.test": ["127.0.0.1"],
    "private.test": ["10.1.2.3"],
    "metadata.test": ["169.254.169.254"],
    "v6-loopback.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "mixed.test": ["93.184.216.34", "192.168.0.10"],
    "sixtofour.test": ["2002:a00:1::"],
    "nat64.test": ["64:ff9b::7f00:1"],
    "public.test": ["93.184.216.34"],
}


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """socket.getaddrinfo answering RESOLVED's names (changeable by the test), refusing any
    other name: nothing is looked up for real."""
    table = dict(RESOLVED)
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table:
            found = []
            for address in table[name]:
                v6 = ":" in address
                sockaddr = (address, int(port or 0), 0, 0) if v6 else (address, int(port or 0))
                kind = socket.AF_INET6 if v6 else socket.AF_INET
                found.append((kind, socket.SOCK_STREAM, 6, "", sockaddr))
            return found
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name (faked)") from None
        return real(host, port, family, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


@pytest.fixture
def production(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dataclasses.replace(api.app.ctx.settings, app_env="production")
    monkeypatch.setattr(api.app.ctx, "settings", settings)


@pytest.fixture
def hookbox() -> Iterator[Hookbox]:
    with Hookbox() as box:
        yield box


def create(api: Api, user: User, url: str) -> Any:
    return api.post(
        f"/api/{user.id}/webhooks", json={"url": url, "events": ["task.*"]}, headers=user.headers
    )


@pytest.mark.usefixtures("production", "resolver")
def test_production_refuses_a_webhook_into_its_own_network(api: Api, user: User) -> None:
    refused = [
        *PRIVATE_LITERALS,
        *(f"https://{name}/hook" for name in RESOLVED if name != "public.test"),
        "https://nowhere.test/hook",  # resolves to nothing
        "http://public.test/hook",  # not https
    ]
    for url in refused:
        answer = create(api, user, url)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["errors"][0]["loc"] == ["body", "url"]
    public = ["https://public.test/hook", "https://[2002:5db8:d822::]/hook"]  # 6to4 of a public one
    for url in public:
        assert create(api, user, url).status_code == 201, url
    listed = api.get(f"/api/{user.id}/webhooks", headers=user.headers).json()["webhooks"]
    assert [w["url"] for w in listed] == public


@pytest.mark.usefixtures("resolver")
def test_development_takes_a_receiver_on_loopback(api: Api, user: User) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://loopback.test/hook", "http://[::1]:9/"):
        assert create(api, user, url).status_code == 201, url


def test_a_production_delivery_reaches_no_private_address_whatever_the_name_said(
    api: Api, hookbox: Hookbox, resolver: dict[str, list[str]]
) -> None:
    """A name that resolved to a public address when registered now answers loopback (DNS
    rebinding), or the URL names loopback itself: the delivery is refused before any
    connection. Without the fence the same delivery arrives."""
    resolver["rebind.test"] = ["127.0.0.1"]
    message = payload("webhook.ping", {"webhook_id": "x"})
    secret = new_secret()

    async def post(public_only: bool, url: str) -> Any:
        poster = WebhookPoster(public_only=public_only)
        try:
            return await poster.post(url, secret, message)
        finally:
            await poster.close()

    for url in (f"https://rebind.test:{hookbox.port}/", f"https://127.0.0.1:{hookbox.port}/"):
        outcome = api.run(post(True, url))
        assert not outcome.delivered
        assert outcome.status is None
        assert "public address" in outcome.note, outcome.note
    plain = api.run(post(True, f"http://rebind.test:{hookbox.port}/"))
    assert not plain.delivered
    assert "https" in plain.note
    assert hookbox.hooks() == []
    unfenced = api.run(post(False, f"http://rebind.test:{hookbox.port}/"))
    assert unfenced.delivered
    assert [h.id for h in hookbox.hooks()] == [message["message_id"]]
