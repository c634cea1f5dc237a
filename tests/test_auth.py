"""Signup and login: email uniqueness, password handling, bcrypt off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import psycopg
import pytest

from server.config import Settings, load_settings
from tests.support import Api, User

SIGNUP, LOGIN = "/api/auth/signup", "/api/auth/login"
PASSWORD = "correct horse battery"


def signup(api: Api, email: str, password: str = PASSWORD, name: str = "Ada") -> Any:
    return api.post(SIGNUP, json={"email": email, "password": password, "name": name})


def login(api: Api, email: str, password: str = PASSWORD) -> Any:
    return api.post(LOGIN, json={"email": email, "password": password})


def test_signup_returns_the_user_with_a_trimmed_name_and_no_secret(
    api: Api, sql: psycopg.Connection[Any]
) -> None:
    response = signup(api, "Ada@Example.org", name="  Ada Lovelace \t")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        *("id", "email", "name", "timezone", "created_at", "updated_at"),
        *("email_verified", "notify"),
    }
    assert body["email_verified"] is False
    assert body["notify"] == {"email": False, "push": False}
    assert body["email"] == "Ada@Example.org"
    assert body["name"] == "Ada Lovelace"
    row = sql.execute(
        "SELECT name, password_hash FROM users WHERE id = %s", (body["id"],)
    ).fetchone()
    assert row is not None
    assert row[0] == "Ada Lovelace"
    assert row[1].startswith("$2b$04$")
    assert PASSWORD not in row[1]


def test_signup_with_taken_email_in_another_case_returns_409(api: Api, user: User) -> None:
    response = signup(api, user.email.upper())
    assert response.status_code == 409
    assert response.json()["detail"] == "An account with this email address already exists."
    assert response.json()["type"] == "urn:todo-api:problem:email-taken"


def test_concurrent_duplicate_signups_give_one_201_and_409s_never_500(api: Api) -> None:
    spellings = ["race@example.org", "RACE@example.org", "Race@Example.org", "race@EXAMPLE.ORG"]

    def attempt(i: int) -> Callable[[], Any]:
        body = {"email": spellings[i % len(spellings)], "password": PASSWORD, "name": "Racer"}
        return lambda: api.arequest("POST", SIGNUP, json=body)

    statuses = sorted(r.status_code for r in api.gather(*(attempt(i) for i in range(10))))
    assert statuses == [201] + [409] * 9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "@"),
        ("email", "a" * 250 + "@x.io"),
        ("email", "nul\x00@example.org"),
        ("password", "seven77"),
        ("password", "p" * 129),
        ("name", "   "),
        ("name", "n" * 101),
        ("name", "Ada\x00"),
    ],
)
def test_signup_with_invalid_field_returns_422_at_that_field(
    api: Api, field: str, value: str
) -> None:
    body = {"email": "ada@example.org", "password": PASSWORD, "name": "Ada", field: value}
    response = api.post(SIGNUP, json=body)
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {("body", field)}


def test_signup_accepts_passwords_of_8_and_128_characters(api: Api) -> None:
    assert signup(api, "short@example.org", password="p" * 8).status_code == 201
    assert signup(api, "long@example.org", password="p" * 128).status_code == 201
    assert login(api, "long@example.org", "p" * 128).status_code == 200


def test_login_returns_a_token_pair_for_the_user(api: Api, user: User, settings: Settings) -> None:
    response = login(api, user.email, user.password)
    assert response.status_code == 200
    pair = response.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_ttl
    assert pair["user"]["id"] == user.id
    assert pair["user"]["email"] == user.email
    me = api.get("/api/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200


def test_login_access_token_is_hs256_with_every_claim(
    api: Api, user: User, settings: Settings
) -> None:
    token = login(api, user.email, user.password).json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token, settings.jwt_secret, algorithms=["HS256"], audience=settings.jwt_audience
    )
    assert set(claims) == {"sub", "iat", "exp", "iss", "aud", "jti", "sid"}  # sid: its session
    assert claims["sub"] == user.id
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl


def test_signup_and_login_ignore_email_case(api: Api) -> None:
    assert signup(api, "Grace.Hopper@Example.org").status_code == 201
    for spelling in ["grace.hopper@example.org", "GRACE.HOPPER@EXAMPLE.ORG"]:
        response = login(api, spelling)
        assert response.status_code == 200
        assert response.json()["user"]["email"] == "Grace.Hopper@Example.org"


def _without_request_id(response: Any) -> dict[str, Any]:
    return {k: v for k, v in response.json().items() if k != "request_id"}


def test_login_with_wrong_password_and_unknown_email_give_same_401(
    api: Api, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[bytes] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    wrong_password = login(api, user.email, "not the password")
    unknown_email = login(api, "nobody@example.org", "not the password")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert _without_request_id(wrong_password) == _without_request_id(unknown_email)
    assert wrong_password.headers["WWW-Authenticate"] == unknown_email.headers["WWW-Authenticate"]
    assert len(checks) == 2, "a bcrypt check runs for the unknown email too"
    assert checks[0][:7] == checks[1][:7] == b"$2b$04$", "at the same cost"


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("a" * 72 + "-right", "a" * 72 + "-wrong"),
        ("é" * 36 + "right", "é" * 36 + "wrong"),  # 72 bytes of two-byte characters
        ("密" * 24 + "right", "密" * 24 + "wrong"),
    ],
    ids=["ascii", "two-byte", "three-byte"],
)
def test_passwords_sharing_their_first_72_bytes_are_different(
    api: Api, right: str, wrong: str
) -> None:
    assert right.encode()[:72] == wrong.encode()[:72]
    assert signup(api, "long@example.org", password=right).status_code == 201
    assert login(api, "long@example.org", wrong).status_code == 401
    assert login(api, "long@example.org", right).status_code == 200


def test_non_ascii_password_signs_up_and_logs_in(api: Api) -> None:
    password = "пароль-🔐-密码-ñandú"
    assert signup(api, "unicode@example.org", password=password).status_code == 201
    assert login(api, "unicode@example.org", password).status_code == 200
    assert login(api, "unicode@example.org", "пароль-🔐-密码-nandu").status_code == 401


@pytest.fixture
def bcrypt_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread ident of every bcrypt hash and check made while the test runs."""
    idents: list[int] = []
    real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw

    def hashpw(password: bytes, salt: bytes) -> bytes:
        idents.append(threading.get_ident())
        return real_hashpw(password, salt)

    def checkpw(password: bytes, hashed: bytes) -> bool:
        idents.append(threading.get_ident())
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    return idents


def test_password_hashing_runs_off_the_event_loop_thread(
    api: Api, bcrypt_threads: list[int]
) -> None:
    async def loop_thread() -> int:
        return threading.get_ident()

    loop_ident = api.run(loop_thread())
    assert signup(api, "threads@example.org").status_code == 201
    assert login(api, "threads@example.org").status_code == 200
    assert login(api, "nobody@example.org").status_code == 401
    assert len(bcrypt_threads) == 3
    assert loop_ident not in bcrypt_threads


def test_bcrypt_rounds_default_to_12_and_follow_the_setting(tmp_path: Path) -> None:
    env = {"JWT_SECRET": "s" * 48, "DATA_DIR": str(tmp_path)}
    assert load_settings(env).bcrypt_rounds == 12
    assert load_settings({**env, "BCRYPT_ROUNDS": "10"}).bcrypt_rounds == 10
