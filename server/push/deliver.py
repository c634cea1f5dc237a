"""The push channel's deliverer: a reminder, encrypted for the subscription's keys (RFC 8291,
aes128gcm) and signed for with the VAPID key (RFC 8292's `Authorization: vapid t=..., k=...`;
py_vapid's Vapid01 would send the draft `WebPush` scheme instead), POSTed to its push service.

pywebpush's aiohttp path (`webpush_async`) sends without a thread: the encryption and the
signature are a fraction of a millisecond of the loop, and one aiohttp session reuses
connections to the few push services there are (closed at the end of each round). Every push
is bounded by PUSH_TIMEOUT_SECONDS. A 404 or 410 means the subscription is gone: it is deleted.

The sender pushes one row at a time, and any account names its push services (20 of them): a
service that never answers costs the timeout per push, so once one push of an account's gets
no answer, its account's other pushes of the round are put off (retried later, untried) rather
than holding everyone's reminders up for 20 timeouts per reminder.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from server.db.executor import Executor
from server.db.queries import Queries
from server.http.egress import PrivateAddress, egress_session
from server.outbox.sender import Retry, Undeliverable

PUSH_TIMEOUT_SECONDS = 10.0
TTL_SECONDS = 3600  # a reminder an hour late is no use: the push service may drop it then
GONE = (404, 410)


class PushDeliverer:
    channel = "push"

    def __init__(
        self,
        db: Executor,
        queries: Queries,
        vapid: Vapid02,
        subject: str,
        *,
        public_only: bool,
        timeout: float = PUSH_TIMEOUT_SECONDS,
    ) -> None:
        self.db, self.queries, self.vapid, self.subject = db, queries, vapid, subject
        self.public_only = public_only  # production: pushes reach public addresses only
        self.timeout = timeout
        self._unanswered: set[str] = set()  # accounts a push service of failed this round
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, row_id: int, payload: Mapping[str, Any], created: datetime) -> None:
        subscription = payload["subscription_id"]
        target = await self.queries.push_target(self.db, id=subscription)
        if target is None:
            raise Undeliverable("the subscription was removed")
        if target["user_id"] in self._unanswered:
            raise Retry("put off: another push of this account got no answer this round")
        data = {k: payload[k] for k in ("kind", "task_id", "title", "fire_at") if k in payload}
        if self._session is None:
            self._session = egress_session(self.public_only)
        try:
            await webpush_async(
                {
                    "endpoint": target["endpoint"],
                    "keys": {"p256dh": target["p256dh"], "auth": target["auth"]},
                },
                data=orjson.dumps(data).decode(),
                vapid_private_key=self.vapid,
                # a fresh dict each time: pywebpush writes `aud` and `exp` into it
                vapid_claims={"sub": self.subject, "exp": int(time.time()) + 12 * 3600},
                ttl=TTL_SECONDS,
                headers={"Urgency": "high"},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                aiohttp_session=self._session,
            )
        except WebPushException as exc:
            status = exc.response.status if exc.response is not None else None
            if status in GONE:
                await self.queries.drop_push_subscription(
                    self.db, id=subscription, endpoint=target["endpoint"]
                )
                raise Undeliverable(f"the push service says it is gone ({status})") from None
            if status is not None and 400 <= status < 500 and status != 429:
                raise Undeliverable(f"the push service refused it ({status})") from None
            raise Retry(f"the push service answered {status}: {exc.message}") from None
        except PrivateAddress as exc:
            raise Undeliverable(str(exc)) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._unanswered.add(target["user_id"])
            raise Retry(f"{type(exc).__name__}: {exc}") from None

    async def end_round(self) -> None:
        self._unanswered.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
