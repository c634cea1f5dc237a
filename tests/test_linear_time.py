"""Linear time by construction (SPEC §9): no request makes the service spend time out of
proportion to its size. Growth is compared with the same check on a shorter input, as a ratio,
never against a clock."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from server.access.tokens import bearer_token
from server.app import load_contract
from server.errors import BadRequest, Unauthorized
from server.http.preconditions import if_match_versions, if_none_match_hits
from tests.support import Api, User

PASSWORD = "correct horse battery"
HOSTILE_EMAIL = "a@" + "a." * 30000 + "@"  # 60 KB: 6 s of backtracking with the old pattern
OLD_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SUPERLINEAR = 24  # 8x longer input: linear work grows ~8x, quadratic ~64x


def cost(run: Callable[[], Any], repeat: int = 5) -> float:
    """The least time of a few runs: noise only ever adds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def growth(make: Callable[[int], str], check: Callable[[str], Any], small: int = 1000) -> float:
    """How much longer `check` takes on an input 8 times longer."""
    short, long = make(small), make(8 * small)
    return cost(lambda: check(long)) / max(cost(lambda: check(short)), 1e-6)


def contract_patterns() -> list[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_contract().document)
    return sorted(found)


def adversarial_inputs(pattern: str) -> Iterator[Callable[[int], str]]:
    """Pumped strings: a prefix, one or two characters repeated, a suffix that fails the match."""
    literals = {c for c in re.sub(r"\\.|\[.*?\]", "", pattern) if c.isprintable()} - set("^$()+*?|")
    alphabet = sorted(literals | {"a", " ", "\t", "@", ".", "é", "\u3000", "\x85", "!"})
    pumps = alphabet + [x + y for x in alphabet for y in alphabet]
    for prefix in ("", "a", "a@"):
        for pump in pumps:
            for suffix in ("", "@", " ", "\n"):
                yield partial(pumped, prefix, pump, suffix)


def pumped(prefix: str, pump: str, suffix: str, length: int) -> str:
    return prefix + pump * (length // len(pump)) + suffix


def worst_growth(pattern: str) -> float:
    compiled = re.compile(pattern)
    worst = 0.0
    for make in adversarial_inputs(pattern):
        if cost(partial(compiled.search, make(2000)), repeat=1) < 0.002:  # 2K characters
            continue  # microseconds: no backtracking worth measuring
        worst = max(worst, growth(make, compiled.search, small=500))
    return worst


@pytest.mark.slow
def test_the_check_finds_the_old_quadratic_email_pattern() -> None:
    assert worst_growth(OLD_EMAIL_PATTERN) > SUPERLINEAR


@pytest.mark.slow
@pytest.mark.parametrize("pattern", contract_patterns())
def test_every_pattern_in_the_contract_matches_in_linear_time(pattern: str) -> None:
    assert worst_growth(pattern) < SUPERLINEAR, pattern


def test_the_email_pattern_still_accepts_addresses_and_refuses_the_rest() -> None:
    email = load_contract().document["components"]["schemas"]["Email"]["pattern"]
    for good in ["ada@example.org", "a.b+c@mail.example.co.uk", "x@y.z"]:
        assert re.search(email, good), good
    for bad in ["plain", "a@b", "a b@c.d", "a@@b.c", "a@b..c", "a@.b.c", "a@b.c.", HOSTILE_EMAIL]:
        assert not re.search(email, bad), bad


@pytest.mark.parametrize(
    "parse",
    [
        lambda h: if_match_versions(h),
        lambda h: if_none_match_hits(h, 1),
        lambda h: bearer_token(h),
    ],
    ids=["If-Match", "If-None-Match", "Authorization"],
)
def test_header_parsers_take_linear_time(parse: Callable[[str], Any]) -> None:
    def attempt(header: str) -> None:
        with contextlib.suppress(BadRequest, Unauthorized):
            parse(header)

    for make in [
        lambda n: '"1",' + " " * n + "x",
        lambda n: " " * n + "x",
        lambda n: "Bearer " + " " * n + "x",
        lambda n: '"1" ' * (n // 4) + "x",
        lambda n: 'W/"' + "1" * n,
    ]:
        assert growth(make, attempt) < SUPERLINEAR


def test_a_number_too_long_to_parse_is_400_at_its_parameter(api: Api, user: User) -> None:
    for name in ("limit", "offset"):
        response = api.get(f"/api/{user.id}/tasks?{name}=" + "9" * 5000, headers=user.headers)
        assert response.status_code == 400
        assert response.json()["errors"][0]["loc"] == ["query", name]


def test_offset_past_10000_is_400_at_offset(api: Api, user: User) -> None:
    assert api.get(f"/api/{user.id}/tasks?offset=10000", headers=user.headers).status_code == 200
    response = api.get(f"/api/{user.id}/tasks?offset=10001", headers=user.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "offset"]


def test_stats_name_the_100_most_used_tags(
    api: Api, user: User, make_task: Callable[..., Any]
) -> None:
    for start in range(0, 120, 20):
        make_task(user, tags=[f"t{i:03d}" for i in range(start, start + 20)])
    make_task(user, tags=["t119", "t118"])
    tags = api.get(f"/api/{user.id}/stats", headers=user.headers).json()["tags"]
    assert len(tags) == 100
    assert tags[:2] == [{"tag": "t118", "count": 2}, {"tag": "t119", "count": 1 + 1}]


def test_a_hostile_body_is_answered_by_the_fast_engine(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan rejected it: openapi-core must not re-run every pattern just to word it."""

    def slower_engine(*_: Any) -> None:
        raise AssertionError("openapi-core was handed a body the plan had rejected")

    monkeypatch.setattr("server.contract.pipeline.validate_request", slower_engine)
    body = {"email": HOSTILE_EMAIL, "password": PASSWORD, "name": "x"}
    response = api.post("/api/auth/signup", json=body)
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("body", "email")}
