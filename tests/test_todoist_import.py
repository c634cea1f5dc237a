"""Importing a Todoist project's CSV export (its documented columns: TYPE, CONTENT, DESCRIPTION,
PRIORITY, INDENT, AUTHOR, RESPONSIBLE, DATE, DATE_LANG, TIMEZONE, ...): sections become lists,
INDENT the tree, @labels tags; what cannot be read is a 422 naming its row and column, and
nothing is written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from server.config import Settings
from server.errors import UnprocessableContent
from server.transfer.todoist import plan_csv
from tests.conftest import User
from tests.support import Api

HEADER = (
    "TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE,"
    "DURATION,DURATION_UNIT"
)


def post_csv(api: Api, owner: User, text: str, **params: str) -> Any:
    return api.post(
        f"/api/{owner.id}/import",
        content=text.encode(),
        params=params,
        headers={**owner.headers, "Content-Type": "text/csv"},
    )


def tasks_of(api: Api, owner: User, list_id: str) -> list[dict[str, Any]]:
    response = api.get(
        f"/api/{owner.id}/tasks",
        params={"list_id": list_id, "sort": "position", "limit": 100},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["tasks"]
    return found


def test_a_todoist_export_becomes_lists_trees_and_tags(api: Api, user: User) -> None:
    text = "\r\n".join(
        [
            HEADER,
            "meta,view_style=list,,,,,,,,,,",
            'task,"Plan trip @travel @Summer",Book it; soon,1,1,Ada (123),,2025-06-01,en,'
            "Europe/Paris,,",
            "task,Flights,,2,2,Ada (123),,2025-05-01 09:30,en,Europe/Paris,,",
            "note,Remember miles,,,,Ada (123),,,,,,",
            "task,Hotel,,4,2,,,,,,,",
            "task,Ask for a quiet room,,3,3,,,,,,,",
            "",
            "section,Packing,,,,,,,,,,",
            "task,Passport,,,1,,,,,,,",
        ]
    )
    response = post_csv(api, user, text, list_name="Holidays")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert [x["name"] for x in summary["lists"]] == ["Holidays", "Packing"]
    assert (summary["tasks"], summary["trashed"], summary["comments"]) == (5, 0, 1)
    assert summary["skipped"] == 1  # the meta row

    holidays, packing = (x["id"] for x in summary["lists"])
    by_title = {task["title"]: task for task in tasks_of(api, user, holidays)}
    trip, flights, hotel, quiet = (
        by_title[t] for t in ("Plan trip", "Flights", "Hotel", "Ask for a quiet room")
    )
    assert flights["position"] < hotel["position"]  # siblings in the file's order
    assert (trip["title"], trip["tags"], trip["priority"]) == (
        "Plan trip",
        ["travel", "summer"],
        "high",
    )
    assert trip["description"] == "Book it; soon"
    assert trip["due_on"] == "2025-06-01"
    assert flights["parent_id"] == trip["id"]
    assert flights["due_date"] == "2025-05-01T07:30:00Z"  # 09:30 in Paris, summer time
    assert flights["priority"] == "medium"
    assert (hotel["parent_id"], hotel["priority"]) == (trip["id"], "low")
    assert quiet["parent_id"] == hotel["id"]
    [passport] = tasks_of(api, user, packing)
    assert (passport["title"], passport["priority"]) == ("Passport", "high")


@pytest.mark.parametrize(
    ("row", "loc"),
    [
        ("task,Someday,,,1,,,every monday,en,,,", ["body", 3, "DATE"]),
        ("task,Deep,,,5,,,,,,,", ["body", 3, "INDENT"]),
        ("task,Jump,,,3,,,,,,,", ["body", 3, "INDENT"]),
        ("task,Odd,,7,1,,,,,,,", ["body", 3, "PRIORITY"]),
        ("task,Zone,,,1,,,2025-01-01 10:00,en,Mars/Olympus,,", ["body", 3, "TIMEZONE"]),
        ("task,No day,,,1,,,2025-02-30,en,,,", ["body", 3, "DATE"]),
        ("task,Too early,,,1,,,0001-01-01,en,,,", ["body", 3, "DATE"]),
        ("task,@" + "l" * 33 + ",,,1,,,,,,,", ["body", 3, "CONTENT"]),
        ("task,Long," + "d" * 2001 + ",,1,,,,,,,", ["body", 3, "DESCRIPTION"]),
        ("epic,Something,,,1,,,,,,,", ["body", 3, "TYPE"]),
        ("task," + "x" * 201 + ",,,1,,,,,,,", ["body", 3, "CONTENT"]),
    ],
)
def test_a_row_that_cannot_be_read_is_a_422_at_its_cell_and_nothing_is_written(
    api: Api, user: User, row: str, loc: list[Any]
) -> None:
    text = f"{HEADER}\r\ntask,Fine,,,1,,,,,,,\r\n{row}\r\n"
    response = post_csv(api, user, text)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc
    lists = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
    assert [x["name"] for x in lists] == ["Inbox"]


def test_a_csv_without_its_header_is_refused(api: Api, user: User) -> None:
    response = post_csv(api, user, "task,Milk,,,1\r\n")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", 1]


def test_a_csv_dry_run_writes_nothing(api: Api, user: User) -> None:
    response = post_csv(api, user, f"{HEADER}\r\ntask,Milk,,,1,,,,,,,\r\n", dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json()["lists"] == [{"id": None, "name": "Todoist", "is_inbox": False}]
    lists = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
    assert [x["name"] for x in lists] == ["Inbox"]


def comments_of(api: Api, owner: User, task_id: str) -> list[tuple[str, Any]]:
    response = api.get(f"/api/{owner.id}/tasks/{task_id}/comments", headers=owner.headers)
    assert response.status_code == 200, response.text
    return [(c["body"], c["author"]) for c in response.json()["comments"]]


def test_each_note_becomes_a_comment_of_the_task_above_it(api: Api, user: User) -> None:
    text = "\r\n".join(
        [
            HEADER,
            "meta,view_style=list,,,,,,,,,,",
            "task,Plan trip,,1,1,,,,,,,",
            "note,  Ask Ada first  ,,,,,,,,,,",
            "task,Flights,,1,2,,,,,,,",
            "note,Window seat,,,,Ada (123),,2025-01-24 16:30,,,,",
            "note,Also an aisle one,,,,,,,,,,",
            "task,Hotel,,1,1,,,,,,,",
            "section,Packing,,,,,,,,,,",
            "task,Passport,,,1,,,,,,,",
            "meta,ignored,,,,,,,,,,",
            '"note","Check it\r\nexpires, after 2026",,,,,,,,,,',
        ]
    )
    response = post_csv(api, user, text, list_name="Holidays")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["tasks"], summary["comments"], summary["skipped"]) == (4, 4, 2)
    holidays, packing = (x["id"] for x in summary["lists"])
    by_title = {task["title"]: task["id"] for task in tasks_of(api, user, holidays)}
    me = {"id": user.id, "name": user.name}
    assert comments_of(api, user, by_title["Plan trip"]) == [("Ask Ada first", me)]
    assert comments_of(api, user, by_title["Flights"]) == [
        ("Window seat", None),  # another person's: no account here
        ("Also an aisle one", me),
    ]
    assert comments_of(api, user, by_title["Hotel"]) == []
    [passport] = tasks_of(api, user, packing)
    assert comments_of(api, user, passport["id"]) == [("Check it\r\nexpires, after 2026", me)]
    exported = api.get(f"/api/{user.id}/export", headers=user.headers).json()["comments"]
    assert sorted((c["body"], c["by_owner"], c["author_name"]) for c in exported) == [
        ("Also an aisle one", True, None),
        ("Ask Ada first", True, None),
        ("Check it\r\nexpires, after 2026", True, None),
        ("Window seat", False, "Ada (123)"),
    ]


@pytest.mark.parametrize(
    ("rows", "loc"),
    [
        (["note,Before any task,,,,,,,,,,"], ["body", 2]),
        (["task,Fine,,,1,,,,,,,", "section,Later,,,,,,,,,,", "note,Whose?,,,,,,,,,,"], ["body", 4]),
        (["task,Fine,,,1,,,,,,,", "note,   ,,,,,,,,,,"], ["body", 3, "CONTENT"]),
        (["task,Fine,,,1,,,,,,,", "note," + "n" * 5001 + ",,,,,,,,,,"], ["body", 3, "CONTENT"]),
        (["task,Fine,,,1,,,,,,,", "note,Hi,,,," + "a" * 101 + ",,,,,,"], ["body", 3, "AUTHOR"]),
    ],
)
def test_a_note_that_cannot_be_a_comment_is_a_422_at_its_row_and_nothing_is_written(
    api: Api, user: User, rows: list[str], loc: list[Any]
) -> None:
    response = post_csv(api, user, "\r\n".join([HEADER, *rows]))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc
    lists = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
    assert [x["name"] for x in lists] == ["Inbox"]


def test_a_note_of_five_thousand_characters_once_trimmed_is_kept(api: Api, user: User) -> None:
    text = f"{HEADER}\r\ntask,Fine,,,1,,,,,,,\r\nnote, {'n' * 5000} ,,,,,,,,,,\r\n"
    response = post_csv(api, user, text, dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json()["comments"] == 1


def test_a_csv_dry_run_counts_its_notes_and_writes_none(api: Api, user: User) -> None:
    text = f"{HEADER}\r\ntask,Milk,,,1,,,,,,,\r\nnote,Oat,,,,,,,,,,\r\nnote,Or soy,,,,,,,,,,\r\n"
    response = post_csv(api, user, text, dry_run="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["tasks"], body["comments"], body["skipped"]) == (1, 2, 0)
    lists = api.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
    assert [x["name"] for x in lists] == ["Inbox"]


def test_more_notes_on_a_task_than_its_quota_is_409_and_writes_nothing(
    make_api: Callable[..., Api], settings: Settings, user: User
) -> None:
    def notes(count: int) -> str:
        return "\r\n".join([HEADER, "task,Busy,,,1,,,,,,,", *["note,Hm,,,,,,,,,,"] * count])

    with make_api(dataclasses.replace(settings, comment_quota=2)) as small:
        assert post_csv(small, user, notes(2), dry_run="true").json()["comments"] == 2
        response = post_csv(small, user, notes(3))
        assert response.status_code == 409, response.text
        assert response.json()["type"].endswith("quota-exceeded")
        lists = small.get(f"/api/{user.id}/lists", headers=user.headers).json()["lists"]
        assert [x["name"] for x in lists] == ["Inbox"]


def test_more_than_twenty_thousand_notes_are_refused_at_the_row_past_them() -> None:
    def notes(count: int) -> str:
        return "\r\n".join(
            [
                HEADER,
                *["task,T,,,1,,,,,,,", *["note,Hm,,,,,,,,,,"] * 1000] * 20,
                *["note,Hm,,,,,,,,,,"] * (count - 20_000),
            ]
        )

    assert len(plan_csv(notes(20_000), "Todoist", "UTC").comments) == 20_000
    with pytest.raises(UnprocessableContent) as refused:
        plan_csv(notes(20_001), "Todoist", "UTC")
    assert refused.value.errors is not None
    assert refused.value.errors[0]["loc"] == ["body", 2 + 20 * 1001]
