"""`make bench` divides the service's throughput by the bare reference server's (bench/bare.py):
a bare server answering 500 would be measured as fast, so each request it claims to answer
must succeed, with the task the service would answer (its headers are not the contract's: no
ETag, no Location; those are the service's layers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sanic.server.protocols.http_protocol import HttpProtocol

from bench.bare import create_bare
from server.config import Settings
from tests.support import Api, User

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare(settings: Settings) -> Iterator[Api]:
    assert settings.database_url
    bare_app = create_bare(settings.database_url, 4, settings.task_quota)
    with Api(bare_app, protocol=HttpProtocol) as api:  # plain Sanic, as `make bench` runs it
        yield api


def test_the_bare_server_answers_each_workload_as_the_service(
    api: Api, bare: Api, user: User
) -> None:
    tasks = f"/api/{user.id}/tasks"
    created = bare.post(
        tasks, check=False, headers=user.headers, json={"title": " Bench ", "tags": ["B"]}
    )
    assert created.status_code == 201
    task = created.json()
    assert (task["title"], task["tags"], task["priority"]) == ("Bench", ["b"], "medium")
    one = f"{tasks}/{task['id']}"
    assert (
        bare.get(one, check=False, headers=user.headers).json()
        == api.get(one, headers=user.headers).json()
    )

    patched = bare.patch(one, check=False, headers=user.headers, json={"priority": "high"})
    assert patched.status_code == 200
    assert patched.json()["priority"] == "high"
    completed = bare.patch(f"{one}/complete", check=False, headers=user.headers)
    assert completed.status_code == 200
    assert completed.json()["is_completed"] is True
    assert api.get(one, headers=user.headers).json() == completed.json()

    page = bare.get(f"{tasks}?limit=20", check=False, headers=user.headers)
    assert page.status_code == 200
    assert [t["id"] for t in page.json()["tasks"]] == [task["id"]]
