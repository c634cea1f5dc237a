"""A push endpoint is a URL a client writes: in production the service never POSTs to an
address inside its own network through it (server/http/egress.py), neither when the endpoint
names one nor when its name resolves to one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from server.outbox.sender import Undeliverable
from server.push.deliver import PushDeliverer
from server.push.keys import vapid_key
from tests.pushbox import Pushbox
from tests.support import Api, User

SUBSCRIPTIONS = "/api/me/push-subscriptions"
PRIVATE = [
    "https://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
    "https://127.0.0.1:5432/",
    "https://[::1]/push",
    "https://[::ffff:127.0.0.1]/push",  # loopback, spelt as IPv6
    "https://10.0.0.5/push",
    "https://192.168.1.1/push",
    "https://172.16.0.1/push",
    "https://100.64.0.1/push",  # carrier-grade NAT
    "https://0.0.0.0/push",
    "https://localhost:8443/push",
    "https://printer.localhost/push",
    "https://[fe80::1]/push",
    "https://2130706433/push",  # 127.0.0.1 as one number
    "https://0x7f.1/push",
    "https://127.1/push",
]


@pytest.fixture
def pushbox() -> Iterator[Pushbox]:
    with Pushbox() as box:
        yield box


@pytest.fixture
def production(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = dataclasses.replace(api.app.ctx.settings, app_env="production")
    monkeypatch.setattr(api.app.ctx, "settings", settings)


@pytest.mark.usefixtures("production")
def test_production_refuses_a_push_endpoint_at_a_private_address(
    api: Api, user: User, pushbox: Pushbox
) -> None:
    for endpoint in PRIVATE:
        body = {"endpoint": endpoint, "keys": pushbox.subscription("x")["keys"]}
        refused = api.post(SUBSCRIPTIONS, json=body, headers=user.headers)
        assert refused.status_code == 422, (endpoint, refused.text)
        assert "public address" in refused.text
    public = {
        "endpoint": "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABl",
        "keys": pushbox.subscription("y")["keys"],
    }
    assert api.post(SUBSCRIPTIONS, json=public, headers=user.headers).status_code == 201
    listed = api.get(SUBSCRIPTIONS, headers=user.headers).json()["subscriptions"]
    assert [s["endpoint"] for s in listed] == [public["endpoint"]]


def test_a_production_push_reaches_no_private_address_literal_or_resolved(
    api: Api, user: User, pushbox: Pushbox
) -> None:
    """Subscribed while it was allowed (development), or a name that resolved elsewhere when
    subscribed: the push itself is fenced too. Without the fence the same push arrives."""
    port = pushbox.origin.rsplit(":", 1)[1]
    ids = []
    for name, origin in (("literal", pushbox.origin), ("named", f"http://localhost:{port}")):
        subscription = pushbox.subscription(name)
        subscription["endpoint"] = f"{origin}/push/{name}"
        created = api.post(SUBSCRIPTIONS, json=subscription, headers=user.headers)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    ctx = api.app.ctx

    def deliverer(public_only: bool) -> PushDeliverer:
        key = vapid_key(ctx.settings)
        return PushDeliverer(ctx.db, ctx.queries, key, "mailto:a@b.c", public_only=public_only)

    async def push(public_only: bool, subscription_id: str) -> None:
        fenced = deliverer(public_only)
        payload = {"subscription_id": subscription_id, "kind": "reminder", "title": "t"}
        try:
            await fenced.deliver(1, payload, datetime.now(UTC))
        finally:
            await fenced.end_round()

    for subscription_id in ids:
        with pytest.raises(Undeliverable, match="public address"):
            api.run(push(True, subscription_id))
    assert pushbox.received == []
    api.run(push(False, ids[0]))
    assert [p.path for p in pushbox.received] == ["/push/literal"]
