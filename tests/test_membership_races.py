"""A member creating tasks in a shared list while the owner removes and re-adds them over and
over (SPEC §11): each create is made (201) or refused as a list not theirs (422 at list_id), as
the membership stood when it ran; never the quota's 409, whose count is nowhere near."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

from tests.sharing import make_list, share
from tests.support import Api, User

CREATES = 300


def test_a_member_removed_and_re_added_meanwhile_is_never_told_the_quota_is_full(
    api: Api, sql: psycopg.Connection[Any], database_url: str, make_user: Callable[..., User]
) -> None:
    owner, member = make_user(), make_user()
    shared = make_list(api, owner, "Churned")
    share(sql, owner, shared["id"], member, "editor")
    stop = threading.Event()

    def churn() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute(
                    "DELETE FROM list_members WHERE list_id = %s AND member_id = %s",
                    (shared["id"], member.id),
                )
                conn.execute(
                    "INSERT INTO list_members (list_id, owner_id, member_id, role)"
                    " VALUES (%s, %s, %s, 'editor')",
                    (shared["id"], owner.id, member.id),
                )

    async def creates() -> list[Any]:
        path = f"/api/{member.id}/tasks"
        body = {"title": "while churned", "list_id": shared["id"]}
        return [
            await api.arequest("POST", path, json=body, headers=member.headers)
            for _ in range(CREATES)
        ]

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        answers = api.run(creates())
    finally:
        stop.set()
        churner.join()
    statuses = [answer.status_code for answer in answers]
    refused = [answer.json() for answer in answers if answer.status_code == 422]
    assert set(statuses) <= {201, 422}, [a.text for a in answers if a.status_code not in (201, 422)]
    assert all(r["errors"][0]["loc"] == ["body", "list_id"] for r in refused), refused[:3]
    made = sql.execute("SELECT count(*) FROM tasks WHERE list_id = %s", (shared["id"],)).fetchone()
    assert made is not None
    assert made[0] == statuses.count(201)
    assert 0 < statuses.count(201) < CREATES, "the churn never overlapped a create"
