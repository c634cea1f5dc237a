"""GET /api/{user_id}/tasks: filters, every sort and order, offset and cursor paging at any
depth, cursors that are refused, and the index each page is read through."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from server.config import Settings
from server.tasks import listing, page_sql
from tests.support import Api, User

Task = dict[str, Any]
MakeTask = Callable[..., Task]
# Filters that keep many of the user's tasks, so that reading the sort key's index is the
# plan (a selective one, such as a tag, may rightly take its few rows from another index and
# sort them).
FILTERED: list[dict[str, Any]] = [
    {"status": "pending"},
    {"priority": "high", "sort": "due_date", "order": "asc"},
    {"q": "task 1"},
    {"due_before": datetime(2100, 1, 1, tzinfo=UTC), "due_after": datetime(2000, 1, 1, tzinfo=UTC)},
]
PREPARED = itertools.count()  # names for the statements explain() prepares
PLAN_CACHE_MODES = ["force_custom_plan", "force_generic_plan"]
SORTS = ["created", "updated", "title", "due_date", "priority"]
ORDERS = ["asc", "desc"]
RANK = {"low": 1, "medium": 2, "high": 3}

# Many ties on every key: 10 creation instants, 7 update instants, 4 titles (lower-case ASCII
# letters, which every collation orders alike), 3 priorities, a third without a due date.
TIED_TASKS = """
INSERT INTO tasks (user_id, list_id, title, priority, due_date, created_at, updated_at)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox),
       (ARRAY['alpha', 'bravo', 'charlie', 'delta'])[1 + n %% 4],
       (ARRAY['low', 'medium', 'high'])[1 + n %% 3],
       CASE WHEN n %% 3 = 0 THEN NULL
            ELSE timestamptz '2030-01-01 00:00Z' + (n %% 5) * interval '1 day' END,
       timestamptz '2025-01-01 00:00Z' + (n %% 10) * interval '1 minute',
       timestamptz '2025-02-01 00:00Z' + (n %% 7) * interval '1 second'
  FROM generate_series(1, %(count)s) AS n
"""


def list_url(owner: User) -> str:
    return f"/api/{owner.id}/tasks"


def listing_of(api: Api, owner: User, **params: Any) -> dict[str, Any]:
    response = api.get(list_url(owner), headers=owner.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def titles(page: dict[str, Any]) -> set[str]:
    return {task["title"] for task in page["tasks"]}


def expected_order(rows: list[dict[str, Any]], sort: str, order: str) -> list[str]:
    """The ids in the order the contract promises, computed independently of the server."""
    if sort == "due_date":
        dated = [r for r in rows if r["due_date"] is not None]
        undated = [r for r in rows if r["due_date"] is None]
        desc = order == "desc"
        return [
            r["id"] for r in sorted(dated, key=lambda r: (r["due_date"], r["id"]), reverse=desc)
        ] + [r["id"] for r in sorted(undated, key=lambda r: r["id"], reverse=desc)]
    column = {"created": "created_at", "updated": "updated_at", "title": "title"}.get(sort)

    def key(r: dict[str, Any]) -> tuple[Any, str]:
        return (RANK[r["priority"]] if column is None else r[column], r["id"])

    return [r["id"] for r in sorted(rows, key=key, reverse=order == "desc")]


def stored_rows(sql: psycopg.Connection[Any], owner: User) -> list[dict[str, Any]]:
    cursor = sql.execute(
        "SELECT id::text, title, priority, due_date, created_at, updated_at FROM tasks"
        " WHERE user_id = %s",
        (owner.id,),
    )
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def walk_offset(api: Api, owner: User, limit: int, **params: Any) -> Iterator[dict[str, Any]]:
    for offset in itertools.count(0, limit):
        page = listing_of(api, owner, limit=limit, offset=offset, **params)
        assert page["offset"] == offset
        yield page
        if offset + limit >= page["total"]:
            return


def walk_cursor(api: Api, owner: User, limit: int, **params: Any) -> Iterator[dict[str, Any]]:
    page = listing_of(api, owner, limit=limit, **params)
    assert page["offset"] == 0
    yield page
    while page["next_cursor"] is not None:
        page = listing_of(api, owner, limit=limit, cursor=page["next_cursor"], **params)
        assert page["offset"] is None
        yield page


# --- sorting and paging ---------------------------------------------------------------------


@pytest.fixture
def tied_tasks(user: User, other_user: User, sql: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    sql.execute(TIED_TASKS, {"user_id": user.id, "count": 250})
    sql.execute(TIED_TASKS, {"user_id": other_user.id, "count": 40})
    return stored_rows(sql, user)


@pytest.mark.slow
@pytest.mark.parametrize("walk", [walk_offset, walk_cursor], ids=["offset", "cursor"])
def test_walking_every_sort_and_order_sees_every_task_once_in_order(
    api: Api, user: User, tied_tasks: list[dict[str, Any]], walk: Callable[..., Any]
) -> None:
    for sort, order in itertools.product(SORTS, ORDERS):
        pages = list(walk(api, user, 17, sort=sort, order=order))
        seen = [task["id"] for page in pages for task in page["tasks"]]
        assert seen == expected_order(tied_tasks, sort, order), (sort, order)
        assert len(pages) == 15  # 250 tasks, 17 a page
        assert all(page["total"] == 250 for page in pages)
        assert all(len(page["tasks"]) == 17 for page in pages[:-1])
        assert pages[-1]["next_cursor"] is None


def test_default_listing_is_newest_first_with_limit_50(
    api: Api, user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    page = listing_of(api, user)
    assert page["limit"] == 50
    assert page["offset"] == 0
    assert page["total"] == 250
    assert [t["id"] for t in page["tasks"]] == expected_order(tied_tasks, "created", "desc")[:50]
    assert page["next_cursor"] is not None


def test_tasks_without_due_date_sort_last_in_both_orders(
    api: Api, user: User, make_task: MakeTask
) -> None:
    make_task(user, title="none")
    make_task(user, title="early", due_date="2030-01-01T00:00:00Z")
    make_task(user, title="late", due_date="2031-01-01T00:00:00Z")
    asc = listing_of(api, user, sort="due_date", order="asc")
    desc = listing_of(api, user, sort="due_date", order="desc")
    assert [t["title"] for t in asc["tasks"]] == ["early", "late", "none"]
    assert [t["title"] for t in desc["tasks"]] == ["late", "early", "none"]


def test_priority_sorts_by_rank(api: Api, user: User, make_task: MakeTask) -> None:
    for priority in ("medium", "high", "low"):
        make_task(user, title=priority, priority=priority)
    page = listing_of(api, user, sort="priority", order="asc")
    assert [t["title"] for t in page["tasks"]] == ["low", "medium", "high"]


def test_offset_past_the_end_gives_an_empty_page_with_the_right_total(
    api: Api, user: User, make_task: MakeTask
) -> None:
    for n in range(3):
        make_task(user, title=f"t{n}")
    page = listing_of(api, user, offset=10)
    assert page == {"tasks": [], "total": 3, "limit": 50, "offset": 10, "next_cursor": None}


def test_listing_of_a_user_without_tasks_is_empty(
    api: Api, user: User, other_user: User, make_task: MakeTask
) -> None:
    make_task(other_user, title="not yours")
    page = listing_of(api, user)
    assert page == {"tasks": [], "total": 0, "limit": 50, "offset": 0, "next_cursor": None}


def test_listing_shows_only_the_owners_tasks(
    api: Api, user: User, other_user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    ids = {task["id"] for page in walk_cursor(api, user, 100) for task in page["tasks"]}
    assert ids == {row["id"] for row in tied_tasks}
    assert listing_of(api, other_user)["total"] == 40


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 101}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
        ({"sort": "owner"}, ["query", "sort"]),
        ({"order": "up"}, ["query", "order"]),
        ({"status": "done"}, ["query", "status"]),
        ({"due_before": "yesterday"}, ["query", "due_before"]),
        ({"q": "nul\x00"}, ["query", "q"]),
    ],
)
def test_listing_with_invalid_parameters_returns_400(
    api: Api, user: User, params: dict[str, Any], loc: list[str]
) -> None:
    response = api.get(list_url(user), headers=user.headers, params=params)
    assert response.status_code == 400
    assert loc in [error["loc"] for error in response.json()["errors"]]


# --- cursors that are refused ---------------------------------------------------------------


@pytest.fixture
def cursor(api: Api, user: User, tied_tasks: list[dict[str, Any]]) -> str:
    next_cursor: str = listing_of(api, user, limit=5)["next_cursor"]
    return next_cursor


def assert_cursor_refused(response: Any) -> None:
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_offset_and_cursor_together_returns_400(api: Api, user: User, cursor: str) -> None:
    params = {"cursor": cursor, "offset": 0}
    assert_cursor_refused(api.get(list_url(user), headers=user.headers, params=params))


def flip(text: str, index: int) -> str:
    char = "A" if text[index] != "A" else "B"
    return text[:index] + char + text[index + 1 :]


@pytest.mark.parametrize(
    "garble",
    [
        lambda c: "not a cursor!",
        lambda c: "AAAA",
        lambda c: c[:-3],
        lambda c: c + "A",
        lambda c: flip(c, 0),
        lambda c: flip(c, len(c) // 2),
        lambda c: flip(c, len(c) - 1),
        lambda c: c.replace("-", "+").replace("_", "/") + "==",
        lambda c: "é" + c,
        lambda c: base64.urlsafe_b64encode(b'["2025-01-01T00:00:00Z", "x"]' + bytes(16)).decode(),
    ],
)
def test_garbled_or_tampered_cursor_returns_400(
    api: Api, user: User, cursor: str, garble: Callable[[str], str]
) -> None:
    response = api.get(list_url(user), headers=user.headers, params={"cursor": garble(cursor)})
    assert_cursor_refused(response)


def test_another_users_cursor_returns_400(
    api: Api, user: User, other_user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    theirs = listing_of(api, other_user, limit=5)["next_cursor"]
    response = api.get(list_url(user), headers=user.headers, params={"cursor": theirs})
    assert_cursor_refused(response)


@pytest.mark.parametrize(
    "changed",
    [
        {"sort": "title"},
        {"order": "asc"},
        {"status": "pending"},
        {"priority": "high"},
        {"tag": "home"},
        {"q": "alpha"},
        {"due_before": "2031-01-01T00:00:00Z"},
        {"due_after": "2000-01-01T00:00:00Z"},
    ],
)
def test_cursor_used_with_another_sort_or_filter_returns_400(
    api: Api, user: User, cursor: str, changed: dict[str, str]
) -> None:
    params = {"cursor": cursor, **changed}
    assert_cursor_refused(api.get(list_url(user), headers=user.headers, params=params))


def test_cursor_keeps_working_when_the_last_task_is_deleted(
    api: Api, user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    first = listing_of(api, user, limit=5, sort="title", order="asc")
    api.delete(f"{list_url(user)}/{first['tasks'][-1]['id']}", headers=user.headers)
    second = listing_of(api, user, limit=5, sort="title", order="asc", cursor=first["next_cursor"])
    expected = expected_order(tied_tasks, "title", "asc")[5:10]
    assert [t["id"] for t in second["tasks"]] == expected


def test_cursor_survives_a_long_unicode_title(api: Api, user: User, make_task: MakeTask) -> None:
    for n in range(3):
        make_task(user, title="🧀" * 199 + str(n))
    first = listing_of(api, user, limit=1, sort="title", order="asc")
    second = listing_of(api, user, limit=1, sort="title", order="asc", cursor=first["next_cursor"])
    assert second["tasks"][0]["title"].endswith("1")


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def assorted(api: Api, user: User, other_user: User, make_task: MakeTask) -> None:
    make_task(
        user,
        title="Buy milk",
        description="Semi-skimmed",
        tags=["home", "errands"],
        priority="high",
        due_date="2030-01-10T00:00:00Z",
    )
    make_task(
        user,
        title="File taxes",
        description="before April",
        tags=["admin"],
        priority="low",
        due_date="2030-03-01T00:00:00Z",
        is_completed=True,
    )
    make_task(user, title="Call MOM", tags=["home"], priority="medium")
    make_task(user, title="100% done_ish", description="back\\slash", tags=["Home", "Urgent"])
    make_task(other_user, title="Buy milk too", tags=["home"], priority="high")


@pytest.mark.usefixtures("assorted")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"Buy milk", "File taxes", "Call MOM", "100% done_ish"}),
        ({"status": "all"}, {"Buy milk", "File taxes", "Call MOM", "100% done_ish"}),
        ({"status": "completed"}, {"File taxes"}),
        ({"status": "pending"}, {"Buy milk", "Call MOM", "100% done_ish"}),
        ({"priority": "high"}, {"Buy milk"}),
        ({"priority": "medium"}, {"Call MOM", "100% done_ish"}),
        ({"tag": "home"}, {"Buy milk", "Call MOM", "100% done_ish"}),
        ({"tag": ["HOME", "urgent"]}, {"100% done_ish"}),
        ({"tag": ["home", "admin"]}, set()),
        ({"tag": " Errands "}, {"Buy milk"}),
        ({"q": "MILK"}, {"Buy milk"}),
        ({"q": "skimmed"}, {"Buy milk"}),
        ({"q": "mom"}, {"Call MOM"}),
        ({"q": "%"}, {"100% done_ish"}),
        ({"q": "_"}, {"100% done_ish"}),
        ({"q": "\\"}, {"100% done_ish"}),
        ({"q": "100%_done"}, set()),
        ({"q": "zzz"}, set()),
        ({"due_before": "2030-02-01T00:00:00Z"}, {"Buy milk"}),
        ({"due_after": "2030-02-01T00:00:00Z"}, {"File taxes"}),
        (
            {"due_after": "2030-01-01T00:00:00+05:00", "due_before": "2030-12-31T00:00:00Z"},
            {"Buy milk", "File taxes"},
        ),
        ({"status": "pending", "tag": "home", "priority": "medium"}, {"Call MOM", "100% done_ish"}),
    ],
)
def test_filters_select_the_matching_tasks_and_count_them(
    api: Api, user: User, params: dict[str, Any], expected: set[str]
) -> None:
    page = listing_of(api, user, **params)
    assert titles(page) == expected
    assert page["total"] == len(expected)


def test_total_counts_every_match_across_pages(
    api: Api, user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    high = [r for r in tied_tasks if r["priority"] == "high"]
    page = listing_of(api, user, priority="high", limit=3)
    assert page["total"] == len(high)
    assert len(page["tasks"]) == 3


def test_cursor_walk_with_filters_sees_exactly_the_matches(
    api: Api, user: User, tied_tasks: list[dict[str, Any]]
) -> None:
    params = {"priority": "low", "q": "ALPHA", "sort": "due_date", "order": "asc"}
    pages = list(walk_cursor(api, user, 4, **params))
    seen = [task["id"] for page in pages for task in page["tasks"]]
    matching = [r for r in tied_tasks if r["priority"] == "low" and r["title"] == "alpha"]
    assert seen == expected_order(matching, "due_date", "asc")
    assert all(page["total"] == len(matching) for page in pages)


# --- the index behind each page -------------------------------------------------------------

BIG_USER_TASKS = """
INSERT INTO tasks (user_id, list_id, title, priority, due_date, tags, created_at, updated_at)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox),
       'task ' || n, (ARRAY['low', 'medium', 'high'])[1 + n %% 3],
       CASE WHEN n %% 4 = 0 THEN NULL ELSE now() + n * interval '1 hour' END,
       ARRAY['t' || (n %% 7)], now() - n * interval '1 minute', now() - n * interval '1 second'
  FROM generate_series(1, %(count)s) AS n
"""


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The nodes that read the page, leaving out the subplans (the total's count)."""
    yield plan
    for child in plan.get("Plans", []):
        if child.get("Parent Relationship") not in ("InitPlan", "SubPlan"):
            yield from plan_nodes(child)


def explain(
    sql: psycopg.Connection[Any],
    request: listing.PageRequest,
    plan_cache_mode: str,
    kept: bool = True,
    analyze: bool = False,
) -> dict[str, Any]:
    """The plan of the statement read_page runs for this request, prepared as asyncpg prepares
    it: planned for its arguments (plan_cache_mode force_custom_plan, as its first five runs
    are) or once for any arguments (force_generic_plan, the plan PostgreSQL may keep after);
    with `analyze`, run, with the rows each node read."""
    statement, args = request.statement(kept)
    name = f"page_{next(PREPARED)}"
    sql.execute(f"SET plan_cache_mode = {plan_cache_mode}")
    sql.execute(f"PREPARE {name} AS {statement}")
    literals = psycopg.ClientCursor(sql)  # the arguments inline: EXECUTE takes expressions
    marks = ", ".join(["%s"] * len(args))
    options = "FORMAT JSON, ANALYZE" if analyze else "FORMAT JSON"
    document = literals.execute(f"EXPLAIN ({options}) EXECUTE {name}({marks})", args).fetchone()
    sql.execute(f"DEALLOCATE {name}")
    sql.execute("RESET plan_cache_mode")
    assert document is not None
    plan: dict[str, Any] = document[0][0]
    return plan["Plan"]


def page_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The node that reads the page: the side of the header row's join that is not the header
    (one Result row holding the account check and the total)."""
    sides = [c for c in plan["Plans"] if c["Parent Relationship"] in ("Inner", "Outer")]
    pages = [c for c in sides if c["Node Type"] != "Result"]
    assert [c["Node Type"] for c in pages] == ["Limit"], [c["Node Type"] for c in sides]
    return pages[0]


def branches(plan: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page's two branches (page_sql.py): the caller's own page (its Limit node), and
    their shared lists'.
    Each is cut to the page on its own, then merged (or, the planner's choice, the few rows of
    both sorted); a Seq Scan or Sort inside the own branch would read the user's tasks whole."""
    merged = next(
        n for n in plan_nodes(page_plan(plan)) if n["Node Type"] in ("Append", "Merge Append")
    )
    own, shared = merged["Plans"]
    # the own branch's page: its Limit (under a Subquery Scan, or a Sort of its few rows)
    return next(n for n in plan_nodes(own) if n["Node Type"] == "Limit"), shared


def check_shared_branch(plan: dict[str, Any], name: str) -> None:
    """The shared lists' tasks are read through an index too (a user who shares nothing has
    no membership: that branch is empty; its membership scan may be anything)."""
    _, shared = branches(plan)
    tasks_read = [n for n in plan_nodes(shared) if n.get("Relation Name") == "tasks"]
    assert len(tasks_read) == 1, name
    assert tasks_read[0]["Node Type"] in ("Index Scan", "Bitmap Heap Scan"), name


def test_pages_of_a_large_user_are_read_through_an_index(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    sql.execute(BIG_USER_TASKS, {"user_id": user.id, "count": 10_000})
    sql.execute(BIG_USER_TASKS, {"user_id": other_user.id, "count": 2_000})
    sql.execute("ANALYZE tasks")
    query = {"limit": 50, "status": "all", "sort": "created", "order": "desc"}
    token = {"user_id": user.id, "session_id": user.session_id, "token_hash": None}
    requests = {"default first page": listing.page_request(token, query, settings.jwt_secret)}
    for filters in FILTERED:  # each set of filters in use has a statement (and plan) of its own
        requests[f"first page, {filters}"] = listing.page_request(
            token, {**query, **filters}, settings.jwt_secret
        )
    for sort, order in itertools.product(SORTS, ORDERS):
        params = {"sort": sort, "order": order, "offset": 8_999, "limit": 1}
        deep = listing_of(api, user, **params)["next_cursor"]
        query = {"limit": 50, "status": "all", "sort": sort, "order": order, "cursor": deep}
        requests[f"{sort} {order} at depth 9,000"] = listing.page_request(
            token, query, settings.jwt_secret
        )
    for (name, request), mode in itertools.product(requests.items(), PLAN_CACHE_MODES):
        plan = explain(sql, request, mode)
        # the account check (its session's and its personal token's branches: the statement
        # hides token_hash from the planner, page_sql.py) and the totals (own, shared) are
        # computed once per page, not per row; the other InitPlans read a parameter
        relations = sorted(child["Parent Relationship"] for child in plan["Plans"])
        assert relations[-2:] == ["Inner", "Outer"], (name, mode, relations)
        once = [c for c in plan["Plans"] if c["Parent Relationship"] == "InitPlan"]
        assert len(once) == len(relations) - 2, (name, mode, relations)
        reads = [c["Node Type"] for c in once if c["Node Type"] != "Result" or "Plans" in c]
        assert len(reads) == 4, (name, mode, reads)
        if mode == "force_custom_plan":  # through PgBouncer, each call planned for its values:
            # the planner sees them there (a session's call drops the personal token's branch)
            bouncer = explain(sql, request, mode, kept=False)
            relations = sorted(child["Parent Relationship"] for child in bouncer["Plans"])
            assert relations == ["InitPlan"] * 3 + ["Inner", "Outer"], (name, relations)
        # the own branch comes straight off an index, cut to the page
        own, _ = branches(plan)
        nodes = list(plan_nodes(own))
        kinds = [node["Node Type"] for node in nodes]
        assert kinds == ["Limit", "Index Scan"], (name, mode, kinds)  # no Sort, no Seq Scan
        scan = nodes[1]
        assert scan["Relation Name"] == "tasks", (name, kinds)
        assert scan["Index Name"].startswith("tasks_user_"), (name, scan["Index Name"])
        if request.after is not None:  # the keyset predicate is an index condition
            assert "ROW(" in scan["Index Cond"], (name, scan["Index Cond"])
        check_shared_branch(plan, name)


def test_deep_cursor_page_matches_offset_page(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    sql.execute(BIG_USER_TASKS, {"user_id": user.id, "count": 1_000})
    for sort, order in itertools.product(SORTS, ORDERS):
        before = listing_of(api, user, sort=sort, order=order, offset=899, limit=1)
        by_cursor = listing_of(api, user, sort=sort, order=order, cursor=before["next_cursor"])
        by_offset = listing_of(api, user, sort=sort, order=order, offset=900)
        assert by_cursor["tasks"] == by_offset["tasks"], (sort, order)
        assert by_cursor["total"] == by_offset["total"] == 1_000


def test_listing_returns_exactly_task_fields(api: Api, user: User, task: Task) -> None:
    page = listing_of(api, user)
    assert page["tasks"] == [task]
    assert isinstance(datetime.fromisoformat(page["tasks"][0]["created_at"]), datetime)


def test_huge_offset_gives_an_empty_page_not_an_error(
    api: Api, user: User, make_task: MakeTask
) -> None:
    make_task(user)
    page = listing_of(api, user, offset=10_000)  # the deepest offset SPEC §9 allows
    assert page["tasks"] == []
    assert page["total"] == 1


def test_a_tag_filter_is_lower_cased_as_tags_are_stored(
    api: Api, user: User, make_task: MakeTask
) -> None:
    make_task(user, tags=["\u0130stanbul"])
    for spelling in ("\u0130STANBUL", "istanbul", " Istanbul "):
        assert listing_of(api, user, tag=spelling)["total"] == 1, spelling
    assert listing_of(api, user, tag="i\u0307stanbul")["total"] == 0


def test_manual_order_pages_of_a_large_user_are_one_index_range(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    sql.execute(BIG_USER_TASKS, {"user_id": user.id, "count": 10_000})
    sql.execute(BIG_USER_TASKS, {"user_id": other_user.id, "count": 2_000})
    row = sql.execute(
        "SELECT id::text, list_id::text FROM tasks WHERE user_id = %s LIMIT 1", (user.id,)
    ).fetchone()
    assert row is not None
    parent, inbox = row
    sql.execute(
        "INSERT INTO tasks (user_id, list_id, parent_id, title)"
        " SELECT %s, %s, %s, 'child ' || n FROM generate_series(1, 30) AS n",
        (user.id, inbox, parent),
    )
    sql.execute("ANALYZE tasks")
    filters: dict[str, dict[str, Any]] = {
        "list": {"list_id": inbox},
        "list top level": {"list_id": inbox, "parent_id": "none"},
        "children": {"parent_id": parent},
    }
    requests, token = {}, {"user_id": user.id, "session_id": user.session_id, "token_hash": None}
    for name, extra in filters.items():
        for order in ORDERS:
            query = {"limit": 20, "status": "all", "sort": "position", "order": order, **extra}
            requests[f"{name} {order}"] = listing.page_request(token, query, settings.jwt_secret)
            params = {"sort": "position", "order": order, "limit": 1, **extra}
            params["offset"] = 25 if name == "children" else 8_999
            deep = listing_of(api, user, **params)["next_cursor"]
            query["cursor"] = deep
            requests[f"{name} {order} deep"] = listing.page_request(
                token, query, settings.jwt_secret
            )
    for (name, request), mode in itertools.product(requests.items(), PLAN_CACHE_MODES):
        plan = explain(sql, request, mode)
        check_shared_branch(plan, name)
        nodes = list(plan_nodes(branches(plan)[0]))
        kinds = [node["Node Type"] for node in nodes]
        assert "Seq Scan" not in kinds, (name, mode, kinds)
        scans = [n for n in nodes if n["Node Type"] in ("Index Scan", "Bitmap Index Scan")]
        assert [n["Index Name"] for n in scans] == ["tasks_user_position_key"], (name, kinds)
        if name.startswith("children"):
            # one parent's children are one range of the index, however the planner reads
            # its few rows (a bitmap, then a sort of those rows, is its choice for 30)
            assert "parent_key" in scans[0]["Index Cond"], (name, scans[0]["Index Cond"])
            continue
        assert "Sort" not in kinds, (name, kinds)  # rows come in order, straight off the index
        if request.after is not None:
            assert "ROW(" in scans[0]["Index Cond"], (name, scans[0]["Index Cond"])


def test_newest_first_pages_of_one_list_read_that_list_in_order_whatever_its_size(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    """A page of one list in the default order (the view a frontend opens a list with) reads
    about a page of tasks, for a list holding nearly all of the account and for a small one, in
    both plan modes: the plan for any values cannot tell the two lists apart. Without an index
    led by the list, that plan either read the big list whole and sorted it (a 50,000-task
    inbox: 23 ms a page, findings-s39-page.md F3) or sifted the account in order for the small
    list's few tasks; and a member's page of a big shared list read that list whole."""
    sql.execute(BIG_USER_TASKS, {"user_id": user.id, "count": 10_000})
    sql.execute(BIG_USER_TASKS, {"user_id": other_user.id, "count": 2_000})
    small = api.post(f"/api/{user.id}/lists", json={"name": "Small"}, headers=user.headers)
    row = sql.execute(
        "SELECT id::text FROM lists WHERE user_id = %s AND is_inbox", (user.id,)
    ).fetchone()
    assert row is not None
    assert small.status_code == 201, small.text
    inbox, small_id = row[0], small.json()["id"]
    sql.execute(
        "INSERT INTO tasks (user_id, list_id, title)"
        " SELECT %s, %s, 'small ' || n FROM generate_series(1, 5) AS n",
        (user.id, small_id),
    )
    shared = api.post(f"/api/{user.id}/lists", json={"name": "Shared"}, headers=user.headers)
    shared_id = shared.json()["id"]
    sql.execute(  # half the inbox moves to a list other_user views
        "UPDATE tasks SET list_id = %s WHERE user_id = %s AND list_id = %s AND title LIKE '%%5'",
        (shared_id, user.id, inbox),
    )
    sql.execute(
        "INSERT INTO list_members (list_id, owner_id, member_id, role)"
        " VALUES (%s, %s, %s, 'viewer')",
        (shared_id, user.id, other_user.id),
    )
    sql.execute("ANALYZE")
    token = {"user_id": user.id, "session_id": user.session_id, "token_hash": None}
    member = {"user_id": other_user.id, "session_id": other_user.session_id, "token_hash": None}
    default = {"limit": 20, "status": "all", "sort": "created", "order": "desc"}
    requests = {"member's page": listing.page_request(member, default, settings.jwt_secret)}
    lists = (("big list", inbox, 4_000), ("small list", small_id, 2))
    for (name, list_id, depth), order in itertools.product(lists, ORDERS):
        for extra in ({}, {"status": "pending"}):
            query = {"limit": 20, "status": "all", "sort": "created", "order": order}
            query.update(list_id=list_id, **extra)
            requests[f"{name} {order} {extra}"] = listing.page_request(
                token, query, settings.jwt_secret
            )
        params = {"sort": "created", "order": order, "offset": depth, "limit": 1}
        deep = listing_of(api, user, list_id=list_id, **params)["next_cursor"]
        query = {"limit": 20, "status": "all", "sort": "created", "order": order}
        query.update(list_id=list_id, cursor=deep)
        requests[f"{name} {order} deep"] = listing.page_request(token, query, settings.jwt_secret)
    # PostgreSQL's plans for the call's values and for any values; and through PgBouncer, the
    # statement of that mode (page_sql.Shape.kept) planned for the call's values
    modes = [(mode, True) for mode in PLAN_CACHE_MODES] + [("force_custom_plan", False)]
    for (name, request), (mode, kept) in itertools.product(requests.items(), modes):
        plan = explain(sql, request, mode, kept=kept, analyze=True)
        check_shared_branch(plan, name)
        for branch in branches(plan):  # the caller's own tasks, and their shared lists'
            scans = [n for n in plan_nodes(branch) if n.get("Relation Name") == "tasks"]
            read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in scans)
            assert read <= 2 * 20 + 1, (name, mode, kept, read, [n["Node Type"] for n in scans])


def total_nodes(plan: dict[str, Any], in_total: bool = False) -> Iterator[dict[str, Any]]:
    """The nodes under the header's subplans: those that read the page's total."""
    if in_total:
        yield plan
    for child in plan.get("Plans", []):
        below = in_total or child.get("Parent Relationship") in ("InitPlan", "SubPlan")
        yield from total_nodes(child, below)


def test_the_totals_of_the_common_pages_are_kept_counts_not_counted(
    api: Api, user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    """The total of a page of every task, of the open ones or of the finished ones (status
    all, pending, completed), of every list or one, of the top level or not, reads no task:
    it is the counts migrations 0039 and 0063 keep. Counted, a page of open tasks of an account
    with 10,000 cost reading them all; a filter with no kept count (priority) still counts, and
    the totals are the tasks' numbers either way."""
    sql.execute(BIG_USER_TASKS, {"user_id": user.id, "count": 10_000})
    sql.execute(
        "UPDATE tasks SET is_completed = true, completed_at = now()"
        " WHERE user_id = %s AND title LIKE '%%3'",
        (user.id,),
    )
    sql.execute("ANALYZE tasks")
    inbox = listing_of(api, user, limit=1)["tasks"][0]["list_id"]
    token = {"user_id": user.id, "session_id": user.session_id, "token_hash": None}
    expected = {"all": 10_000, "pending": 9_000, "completed": 1_000}
    for status, in_list, top in itertools.product(expected, (None, inbox), (None, "none")):
        query: dict[str, Any] = {"limit": 20, "status": status, "sort": "created"}
        query.update({"order": "desc", "list_id": in_list, "parent_id": top})
        query = {name: value for name, value in query.items() if value is not None}
        request = listing.page_request(token, query, settings.jwt_secret)
        plan = explain(sql, request, "force_generic_plan", analyze=True)
        read = [n for n in total_nodes(plan) if n.get("Relation Name") == "tasks"]
        assert read == [], (query, [n["Node Type"] for n in read])
        assert listing_of(api, user, **query)["total"] == expected[status], query
    counted = {"limit": 20, "status": "pending", "sort": "created", "priority": "high"}
    request = listing.page_request(token, {**counted, "order": "desc"}, settings.jwt_secret)
    plan = explain(sql, request, "force_generic_plan", analyze=True)
    assert [n for n in total_nodes(plan) if n.get("Relation Name") == "tasks"]


# --- all-day dues (SPEC §8) ------------------------------------------------------------------

MIXED_DUES = """
INSERT INTO tasks (user_id, list_id, title, due_date, due_on)
SELECT %(user_id)s, (SELECT id FROM lists WHERE user_id = %(user_id)s AND is_inbox), 'task ' || n,
       CASE WHEN n %% 3 = 1 THEN timestamptz '2030-01-01 00:00Z' + n * interval '37 minutes' END,
       CASE WHEN n %% 3 = 2 THEN date '2030-01-01' + (n / 40) END
  FROM generate_series(1, %(count)s) AS n
"""


def test_all_day_dues_sort_and_filter_by_the_end_of_their_day_through_the_due_indexes(
    api: Api, user: User, other_user: User, sql: psycopg.Connection[Any], settings: Settings
) -> None:
    sql.execute("UPDATE users SET timezone = 'Asia/Tokyo' WHERE id = %s", (user.id,))
    sql.execute(MIXED_DUES, {"user_id": user.id, "count": 6_000})
    sql.execute(MIXED_DUES, {"user_id": other_user.id, "count": 2_000})
    sql.execute("ANALYZE tasks")
    zone = ZoneInfo("Asia/Tokyo")
    rows = sql.execute(
        "SELECT id::text, due_date, due_on FROM tasks WHERE user_id = %s", (user.id,)
    ).fetchall()
    counts_as_due = {
        id_: due_date
        if due_on is None
        else datetime.combine(due_on + timedelta(days=1), time(), zone).astimezone(UTC)
        for id_, due_date, due_on in rows
    }
    for order in ORDERS:
        expected = expected_order(
            [{"id": i, "due_date": d} for i, d in counts_as_due.items()], "due_date", order
        )
        before = listing_of(api, user, sort="due_date", order=order, offset=4_199, limit=1)
        by_cursor = listing_of(
            api, user, sort="due_date", order=order, cursor=before["next_cursor"]
        )
        by_offset = listing_of(api, user, sort="due_date", order=order, offset=4_200)
        assert [t["id"] for t in by_cursor["tasks"]] == expected[4_200:4_250]
        assert by_cursor["tasks"] == by_offset["tasks"]
        query = {"limit": 50, "status": "all", "sort": "due_date", "order": order}
        bounded = {
            **query,
            "due_after": datetime(2030, 2, 1, tzinfo=UTC),
            "due_before": datetime(2030, 3, 1, tzinfo=UTC),
        }
        deep = {**query, "cursor": before["next_cursor"]}
        token = {"user_id": user.id, "session_id": user.session_id, "token_hash": None}
        shapes = (("bounded", bounded), ("deep", deep))
        for (name, params), mode in itertools.product(shapes, PLAN_CACHE_MODES):
            request = listing.page_request(token, params, settings.jwt_secret)
            plan = explain(sql, request, mode)
            check_shared_branch(plan, name)
            nodes = list(plan_nodes(branches(plan)[0]))
            kinds = [node["Node Type"] for node in nodes]
            assert "Seq Scan" not in kinds, (name, order, mode, kinds)
            assert "Sort" not in kinds, (name, order, mode, kinds)
            scans = [n for n in nodes if n["Node Type"] == "Index Scan"]
            assert [n["Index Name"] for n in scans] == [f"tasks_user_due_{order}_idx"], (
                name,
                mode,
                kinds,
            )
    window = {"due_after": "2030-02-01T00:00:00Z", "due_before": "2030-03-01T00:00:00Z"}
    lo, hi = (datetime.fromisoformat(window[k]) for k in ("due_after", "due_before"))
    matching = {i for i, d in counts_as_due.items() if d is not None and lo < d < hi}
    assert listing_of(api, user, limit=1, **window)["total"] == len(matching)


def test_a_worker_keeps_a_bounded_number_of_page_statements() -> None:
    """Each shape of page (sort, order, paging, the filters in use) has a statement text of its
    own, and a client chooses the shape: some 49,000 texts of 2-3 KB each could be asked for,
    and a worker that kept every one it built would grow by the megabyte with a client walking
    the filters' combinations. It keeps the last KEPT_SHAPES it used."""
    page_sql.statement.cache_clear()
    names = list(page_sql.FILTERS)
    shapes = [
        page_sql.Shape(sort, order, keyset, filters)
        for (sort, order), keyset in itertools.product(page_sql.SORT_KEYS, (False, True))
        for filters in itertools.combinations(names, 3)
    ]
    assert len(shapes) > 2 * page_sql.KEPT_SHAPES
    texts = [page_sql.statement(shape) for shape in shapes]
    assert page_sql.statement.cache_info().currsize == page_sql.KEPT_SHAPES
    assert page_sql.statement(shapes[0]) == texts[0]  # built again, the same
