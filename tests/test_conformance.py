"""The service does what openapi.yaml says: schemathesis, every phase and every check, against a
real `todo-api serve` process with a database of its own (schemathesis.toml holds the settings
and the reasons for each narrowed check; tests/schemathesis_hooks.py signs up and logs in); and
no request of the run held the service's event loop past tests/loop_guard.py's bound.
Where a check is narrowed because the service answers otherwise than the check assumes, a test
here plays that answer against the service, so a narrowing never outlives its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.core.result import Ok, Result
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import EnsureResourceAvailability
from schemathesis.schemas import APIOperation, BaseSchema

from tests import schemathesis_hooks as hooks
from tests.live import ROOT, LiveServer, serve_fresh
from tests.loop_guard import check_holds, worst_holds
from tests.support import Api, User

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
RUN_TIMEOUT = 900  # seconds; the run takes a minute or two


@pytest.fixture(scope="module")
def service(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_fresh(admin_dsn, tmp_path_factory, "todo_conformance") as server:
        yield server


@pytest.mark.slow
def test_the_service_conforms_to_its_contract(
    service: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.ndjson"
    run = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(SCHEMATHESIS),
            "run",
            "openapi.yaml",
            "--url",
            service.url,
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(events),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    cases, failures = _tally(events)
    logged = service.log_summary()
    worst = sorted(worst_holds(service).items(), key=lambda item: -item[1])[:5]
    with capsys.disabled():
        print(f"\nschemathesis: cases per phase {dict(cases)}, failing checks {dict(failures)}")
        print(f"service: {logged.lines} log lines, 5xx {dict(logged.server_errors)}")
        print("longest holds of the event loop: " + ", ".join(f"{o} {s:.3f} s" for o, s in worst))
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert sum(cases.values()) > 0
    assert not failures
    assert not logged.server_errors, logged.errors[:5]
    assert not logged.errors, logged.errors[:5]
    check_holds(service)  # no request held its worker's event loop past HOLD_BOUND


def _tally(events: Path) -> tuple[Counter[str], Counter[str]]:
    """Test cases run per phase, and failed checks by name, from the NDJSON event stream."""
    cases: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    if not events.exists():
        return cases, failures
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        cases[finished["phase"]] += len(recorder.get("cases", {}))
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] == "failure":
                    failures[check["name"]] += 1
    return cases, failures


# use_after_free (ST301) flags a 2xx GET at or below the path of an earlier successful DELETE
# that has path parameters, unless a write above that path came between (a re-creation). Each
# such (DELETE, GET) pair of the contract, played against the service: the GET's statuses after
# the DELETE, and after whatever else brings the resource back.
Play = Callable[[Api, User], set[int]]


def _emptied_trash(api: Api, user: User) -> set[int]:
    trash = f"/api/{user.id}/trash"
    assert api.delete(trash, headers=user.headers).status_code == 204
    return {api.get(trash, headers=user.headers).status_code}  # the collection stays


def _deleted_list(api: Api, user: User) -> set[int]:
    made = api.post(f"/api/{user.id}/lists", json={"name": "Gone"}, headers=user.headers)
    url = f"/api/{user.id}/lists/{made.json()['id']}"
    assert api.delete(url, headers=user.headers).status_code == 204
    return {api.get(url, headers=user.headers).status_code}  # lists are never restored


def _deleted_list_part(part: str) -> Play:
    """A list's members or invitations, read after the list is deleted."""

    def play(api: Api, user: User) -> set[int]:
        made = api.post(f"/api/{user.id}/lists", json={"name": "Gone"}, headers=user.headers)
        url = f"/api/{user.id}/lists/{made.json()['id']}"
        assert api.get(f"{url}/{part}", headers=user.headers).status_code == 200
        assert api.delete(url, headers=user.headers).status_code == 204
        return {api.get(f"{url}/{part}", headers=user.headers).status_code}

    return play


def _deleted_then_restored_task(api: Api, user: User) -> set[int]:
    made = api.post(f"/api/{user.id}/tasks", json={"title": "Back"}, headers=user.headers)
    task_id = made.json()["id"]
    url = f"/api/{user.id}/tasks/{task_id}"
    assert api.delete(url, headers=user.headers).status_code == 204
    gone = api.get(url, headers=user.headers).status_code
    restore = f"/api/{user.id}/trash/{task_id}/restore"
    assert api.post(restore, headers=user.headers).status_code == 200  # at its id again
    return {gone, api.get(url, headers=user.headers).status_code}


def _comments_of_a_deleted_then_restored_task(api: Api, user: User) -> set[int]:
    made = api.post(f"/api/{user.id}/tasks", json={"title": "Back"}, headers=user.headers)
    task_id = made.json()["id"]
    comments = f"/api/{user.id}/tasks/{task_id}/comments"
    assert api.post(comments, json={"body": "kept"}, headers=user.headers).status_code == 201
    url = f"/api/{user.id}/tasks/{task_id}"
    assert api.delete(url, headers=user.headers).status_code == 204
    gone = api.get(comments, headers=user.headers).status_code
    restore = f"/api/{user.id}/trash/{task_id}/restore"
    assert api.post(restore, headers=user.headers).status_code == 200  # with its comments
    return {gone, api.get(comments, headers=user.headers).status_code}


def _deleted_webhook(suffix: str) -> Play:
    def play(api: Api, user: User) -> set[int]:
        hook = {"url": "https://hooks.example.org/", "events": ["task.*"]}
        made = api.post(f"/api/{user.id}/webhooks", json=hook, headers=user.headers)
        url = f"/api/{user.id}/webhooks/{made.json()['id']}"
        assert api.delete(url, headers=user.headers).status_code == 204
        return {api.get(url + suffix, headers=user.headers).status_code}  # never restored

    return play


PLAYS: dict[tuple[str, str], tuple[Play, set[int]]] = {
    ("delete_webhook", "get_webhook"): (_deleted_webhook(""), {404}),
    ("delete_webhook", "list_webhook_deliveries"): (_deleted_webhook("/deliveries"), {404}),
    ("delete_list", "get_list"): (_deleted_list, {404}),
    ("delete_list", "list_members"): (_deleted_list_part("members"), {404}),
    ("delete_list", "list_invitations"): (_deleted_list_part("invitations"), {404}),
    ("delete_task", "get_task"): (_deleted_then_restored_task, {404, 200}),
    ("delete_task", "list_comments"): (_comments_of_a_deleted_then_restored_task, {404, 200}),
    ("empty_trash", "list_trash"): (_emptied_trash, {200}),
}


def test_use_after_free_is_off_exactly_where_a_deleted_path_answers_again(
    api: Api, user: User
) -> None:
    """A narrowing outlives no reason, and no pair of the kind is left unexamined: the check
    stays on for a GET that only ever answers 404 after its DELETE."""
    config = SchemathesisConfig.from_path(ROOT / "schemathesis.toml")
    schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)
    by_id = _by_operation_id(schema)
    operations = list(by_id.values())
    pairs = {
        (deleting.definition.raw["operationId"], reading.definition.raw["operationId"])
        for deleting in operations
        for reading in operations
        if (deleting.method, reading.method) == ("delete", "get")
        and "{" in deleting.path
        and _at_or_below(reading.path, deleting.path)
    }
    assert pairs == set(PLAYS), "a new pair: play it in PLAYS, and declare it if it answers 2xx"
    for (_, reading), (play, statuses) in PLAYS.items():
        assert play(api, user) == statuses, reading
        checks = schema.config.checks_config_for(operation=by_id[reading], phase="stateful")
        assert checks.use_after_free.enabled == (statuses == {404}), reading


def _by_operation_id(schema: BaseSchema) -> dict[str, APIOperation]:
    return {
        op.definition.raw["operationId"]: op for op in map(_operation, schema.get_all_operations())
    }


def _operation(result: Result[APIOperation, Any]) -> APIOperation:
    assert isinstance(result, Ok), result
    return result.ok()


def _at_or_below(path: str, deleted: str) -> bool:
    """As use_after_free reads paths: segment by segment, a parameter matching a parameter
    and a name its plural."""
    below, above = path.split("/"), deleted.split("/")
    return len(above) <= len(below) and all(
        a == b or ("{" in a and "{" in b) or a.rstrip("s") == b.rstrip("s")
        for a, b in zip(above, below, strict=False)
    )


def test_a_made_resource_s_404_is_dropped_only_when_a_deletion_took_what_held_it(
    api: Api, user: User
) -> None:
    """tests/schemathesis_hooks.py's filter_failure, fed the service's own answers as a stateful
    run would: after a list's DELETE, its calendar feed, its task and the task's comments answer
    404 (the contract's cascade), as does a subtask after its parent's, and their ST302 is
    dropped; a feed of a list still standing keeps its ST302 (revoked twice: the second is a
    404 of another cause), as do a subtask whose parent was restored and one whose parent moved
    out of the deleted list, and a failure of any other check on what is gone is kept."""
    by_id = _by_operation_id(schemathesis.openapi.from_path(ROOT / "openapi.yaml"))
    base = f"/api/{user.id}"

    def sent(operation_id: str, answer: Any, **path: str) -> tuple[Any, Response]:
        case = by_id[operation_id].Case(path_parameters={"user_id": user.id, **path})
        response = Response.from_httpx(answer, verify=False)
        hooks.after_call(None, case, response)
        return case, response

    def made(path: str, body: dict[str, Any], operation_id: str, **params: str) -> str:
        answer = api.post(base + path, json=body, headers=user.headers)
        assert answer.status_code == 201, answer.text
        sent(operation_id, answer, **params)
        return str(answer.json()["id"])

    def st302(case: Any) -> Failure:
        label = f"{case.method.upper()} {case.path}"
        return EnsureResourceAvailability(
            operation=label, message="", created_with="POST", not_available_with=label
        )

    gone, standing, gone_too = (
        made("/lists", {"name": name}, "create_list") for name in ("Gone", "Kept", "Gone too")
    )
    gone_feed = made("/calendar-feeds", {"list_id": gone}, "create_calendar_feed")
    kept_feed = made("/calendar-feeds", {"list_id": standing}, "create_calendar_feed")
    task = made("/tasks", {"title": "Goes", "list_id": gone}, "create_task")
    made(f"/tasks/{task}/comments", {"body": "with it"}, "create_comment", task_id=task)
    sent("delete_list", api.delete(f"{base}/lists/{gone}", headers=user.headers), list_id=gone)
    parent = made("/tasks", {"title": "Parent", "list_id": standing}, "create_task")
    child = made("/tasks", {"title": "Child", "parent_id": parent}, "create_task")
    grandchild = made("/tasks", {"title": "Grandchild", "parent_id": child}, "create_task")
    sent("delete_task", api.delete(f"{base}/tasks/{parent}", headers=user.headers), task_id=parent)

    cascaded = [
        sent(
            "delete_calendar_feed",
            api.delete(f"{base}/calendar-feeds/{gone_feed}", headers=user.headers),
            feed_id=gone_feed,
        ),
        sent("get_task", api.get(f"{base}/tasks/{task}", headers=user.headers), task_id=task),
        sent(
            "list_comments",
            api.get(f"{base}/tasks/{task}/comments", headers=user.headers),
            task_id=task,
        ),
        sent(
            "get_task",
            api.get(f"{base}/tasks/{grandchild}", headers=user.headers),
            task_id=grandchild,
        ),
    ]
    for case, response in cascaded:
        assert response.status_code == 404, case.path
        assert hooks.filter_failure(None, st302(case), case, response) is False, case.path
        other = Failure(operation=case.path, title="another check", message="")
        assert hooks.filter_failure(None, other, case, response) is True, case.path

    # Restored, the parent brings its subtree back: a 404 there would be the service's fault.
    restore = api.post(f"{base}/trash/{parent}/restore", headers=user.headers)
    assert restore.status_code == 200, restore.text
    sent("restore_task", restore, task_id=parent)
    case, response = sent(
        "get_task", api.get(f"{base}/tasks/{grandchild}", headers=user.headers), task_id=grandchild
    )
    assert response.status_code == 200
    assert hooks.filter_failure(None, st302(case), case, response) is True
    # A parent moved to another list takes its subtask along: the old list's deletion takes
    # neither, and a 404 of the subtask would be the service's fault.
    elsewhere = made("/lists", {"name": "Elsewhere"}, "create_list")
    moving = made("/tasks", {"title": "Moving", "list_id": gone_too}, "create_task")
    follower = made("/tasks", {"title": "Follows", "parent_id": moving}, "create_task")
    moved = api.post(
        f"{base}/tasks/{moving}/move", json={"list_id": elsewhere}, headers=user.headers
    )
    assert moved.status_code == 200, moved.text
    sent("move_task", moved, task_id=moving)
    sent(
        "delete_list",
        api.delete(f"{base}/lists/{gone_too}", headers=user.headers),
        list_id=gone_too,
    )
    case, response = sent(
        "get_task", api.get(f"{base}/tasks/{follower}", headers=user.headers), task_id=follower
    )
    assert response.status_code == 200
    assert hooks.filter_failure(None, st302(case), case, response) is True

    revoke = f"{base}/calendar-feeds/{kept_feed}"
    assert api.delete(revoke, headers=user.headers).status_code == 204
    case, response = sent(
        "delete_calendar_feed", api.delete(revoke, headers=user.headers), feed_id=kept_feed
    )
    assert response.status_code == 404
    assert hooks.filter_failure(None, st302(case), case, response) is True


def test_a_stateful_delete_of_the_token_s_own_session_ends_the_spare_one(
    api: Api, user: User
) -> None:
    """The stateful phase links GET /api/me/sessions to DELETE /api/me/sessions/{session_id}
    and never fetches a token after a 401: ending the token's own session left the phase's
    every later step a 401. The hook sends the account's spare session's id instead, so the
    DELETE still succeeds, and the token goes on working."""
    login = {"email": user.email, "password": user.password}
    spare = api.post("/api/auth/login", json=login).json()["access_token"]
    identity = hooks.Identity(
        user.access_token,
        user.id,
        user.password,
        hooks._session_of(user.access_token),
        hooks._session_of(spare),
    )
    assert identity.session_id == user.session_id
    by_id = _by_operation_id(schemathesis.openapi.from_path(ROOT / "openapi.yaml"))
    case = by_id["delete_session"].Case(path_parameters={"session_id": user.session_id})
    hooks.SignupAndLogin().set(case, identity, None)
    assert case.path_parameters["session_id"] == identity.spare
    url = f"/api/me/sessions/{case.path_parameters['session_id']}"
    assert api.delete(url, headers=case.headers).status_code == 204
    assert api.get("/api/me", headers=user.headers).status_code == 200
    assert api.get("/api/me", headers={"Authorization": f"Bearer {spare}"}).status_code == 401
