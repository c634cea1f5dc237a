"""Two members of a shared list batching on its tasks in opposite orders (updates, completes,
moves, creates in the list), each round with the owner writing the same tasks and, in the last
rounds, deleting the list meanwhile (SPEC §11, §5's batch): real concurrency, never a 5xx. A
deadlock's victim runs again (contract/pipeline.py), an item whose task or list went meanwhile
answers as its single operation would (404, 422 for a create in a list that is gone), and what
is left is what the answers say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from tests.sharing import make_list, share
from tests.support import Api, User, later

ROUNDS = 6
TASKS = 6
GONE = {404, 422}  # the task (404) or the list a create names (422 at list_id) was deleted


def items(list_id: str, ids: list[str], priority: str) -> list[dict[str, Any]]:
    """A batch touching every task of the list in the order of `ids`, then a create in it."""
    ops: list[dict[str, Any]] = []
    for n, task_id in enumerate(ids):
        if n % 3 == 0:
            ops.append({"op": "complete", "task_id": task_id})
        elif n % 3 == 1:
            ops.append({"op": "move", "task_id": task_id, "body": {"after_id": None}})
        else:
            ops.append({"op": "update", "task_id": task_id, "body": {"priority": priority}})
    ops.append({"op": "create", "body": {"title": f"by batch {priority}", "list_id": list_id}})
    return ops


def test_members_batching_in_opposite_orders_while_the_owner_deletes_never_get_a_5xx(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, first, second = make_user(), make_user(), make_user()
    for round_ in range(ROUNDS):
        deleting = round_ >= ROUNDS // 2
        shared = make_list(api, owner, f"Round {round_}")
        share(sql, owner, shared["id"], first, "editor")
        share(sql, owner, shared["id"], second, "editor")
        ids = [
            api.post(
                f"/api/{owner.id}/tasks",
                json={"title": f"t{n}", "list_id": shared["id"]},
                headers=owner.headers,
            ).json()["id"]
            for n in range(TASKS)
        ]
        owners = [{"op": "update", "task_id": i, "body": {"title": "owner's"}} for i in ids[::2]]
        calls = [
            later(
                api,
                first,
                "POST",
                "/tasks/batch",
                json={"operations": items(shared["id"], ids, "high")},
            ),
            later(
                api,
                second,
                "POST",
                "/tasks/batch",
                json={"operations": items(shared["id"], ids[::-1], "low")},
            ),
            later(api, owner, "POST", "/tasks/batch", json={"operations": owners[::-1]}),
        ]
        if deleting:
            calls.append(later(api, owner, "DELETE", f"/lists/{shared['id']}"))
        answers = api.gather(*calls)
        for answer in answers:
            assert answer.status_code < 500, answer.text
        batches, deleted = answers[:3], (answers[3] if deleting else None)
        for batch in batches:
            assert batch.status_code == 200, batch.text
            for result in batch.json()["results"]:
                ok = result["status"] in (200, 201)
                assert ok or (deleting and result["status"] in GONE), result
        left = sql.execute(
            "SELECT count(*) FROM tasks WHERE list_id = %s", (shared["id"],)
        ).fetchone()
        assert left is not None
        if deleted is not None:
            assert deleted.status_code == 204, deleted.text
            assert left[0] == 0
        else:
            assert left[0] == TASKS + 2
