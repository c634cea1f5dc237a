"""Access tokens refuse every forgery; refresh tokens rotate, detect reuse and can be revoked."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
import uuid
from typing import Any

import jwt
import orjson
import psycopg
import pytest

from server.access.tokens import AccessTokenReader, issue_access_token
from server.config import Settings
from server.errors import Unauthorized
from tests.support import Api, User

ME, LOGIN, REFRESH, LOGOUT = "/api/me", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"


def claims_for(settings: Settings, user: User, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": user.id,
        "sid": user.session_id,
        "iat": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def assert_rejected(api: Api, token: str) -> None:
    response = api.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_well_formed_token_is_accepted(api: Api, user: User, settings: Settings) -> None:
    token = jwt.encode(claims_for(settings, user), settings.jwt_secret, algorithm="HS256")
    assert api.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_with_alg_none_is_rejected(api: Api, user: User, settings: Settings) -> None:
    header = {"alg": "none", "typ": "JWT"}
    assert_rejected(api, f"{b64(header)}.{b64(claims_for(settings, user))}.")


def test_token_signed_with_another_algorithm_is_rejected(
    api: Api, user: User, settings: Settings
) -> None:
    assert_rejected(api, jwt.encode(claims_for(settings, user), settings.jwt_secret, "HS512"))


def test_token_signed_with_wrong_key_is_rejected(api: Api, user: User, settings: Settings) -> None:
    assert_rejected(api, jwt.encode(claims_for(settings, user), "k" * 48, algorithm="HS256"))


@pytest.mark.parametrize("claim", ["iss", "aud"])
def test_token_with_wrong_issuer_or_audience_is_rejected(
    api: Api, user: User, settings: Settings, claim: str
) -> None:
    claims = claims_for(settings, user, **{claim: "someone-else"})
    assert_rejected(api, jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))


def test_expired_token_is_rejected(api: Api, user: User, settings: Settings) -> None:
    past = int(time.time()) - 120
    claims = claims_for(settings, user, iat=past - 600, exp=past)
    assert_rejected(api, jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))


def test_token_with_tampered_payload_is_rejected(
    api: Api, user: User, other_user: User, settings: Settings
) -> None:
    header, _, signature = user.access_token.split(".")
    forged = b64(claims_for(settings, other_user))
    assert_rejected(api, f"{header}.{forged}.{signature}")


def test_token_with_tampered_signature_is_rejected(api: Api, user: User) -> None:
    header, payload, signature = user.access_token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert_rejected(api, f"{header}.{payload}.{flipped}")


@pytest.mark.parametrize("token", ["abc", "a.b.c", "a.b", "....", "eyJ.eyJ.sig", "!!.@@.##"])
def test_malformed_token_is_rejected(api: Api, token: str) -> None:
    assert_rejected(api, token)


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "iss", "aud", "jti", "sid"])
def test_token_missing_a_required_claim_is_rejected(
    api: Api, user: User, settings: Settings, claim: str
) -> None:
    claims = claims_for(settings, user, **{claim: None})
    assert_rejected(api, jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))


def test_token_whose_subject_is_not_a_user_id_is_rejected(
    api: Api, user: User, settings: Settings
) -> None:
    claims = claims_for(settings, user, sub="admin")
    assert_rejected(api, jwt.encode(claims, settings.jwt_secret, algorithm="HS256"))


def test_token_of_a_deleted_user_is_rejected(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    assert_rejected(api, user.access_token)


# Refresh tokens ---------------------------------------------------------------------------------


def log_in(api: Api, user: User) -> dict[str, Any]:
    response = api.post(LOGIN, json={"email": user.email, "password": user.password})
    assert response.status_code == 200
    return dict(response.json())


def refresh(api: Api, token: str) -> Any:
    return api.post(REFRESH, json={"refresh_token": token})


def test_refresh_token_is_opaque_256_bits_and_only_its_hash_is_stored(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = log_in(api, user)["refresh_token"]
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32
    rows = sql.execute("SELECT token_hash FROM refresh_tokens").fetchall()
    assert [bytes(r[0]) for r in rows] == [hashlib.sha256(token.encode()).digest()]


def test_refresh_rotates_the_pair_and_spends_the_old_token(
    api: Api, user: User, settings: Settings
) -> None:
    first = log_in(api, user)
    response = refresh(api, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["token_type"] == "bearer"
    assert second["expires_in"] == settings.access_token_ttl
    assert second["user"] == first["user"]
    me = api.get(ME, headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200
    assert refresh(api, second["refresh_token"]).status_code == 200


def test_reused_refresh_token_revokes_its_whole_family(api: Api, user: User) -> None:
    stolen = log_in(api, user)["refresh_token"]
    other_login = log_in(api, user)["refresh_token"]
    newer = refresh(api, stolen).json()["refresh_token"]
    reuse = refresh(api, stolen)
    assert reuse.status_code == 401
    assert reuse.headers["WWW-Authenticate"].startswith("Bearer")
    assert refresh(api, newer).status_code == 401, "the sibling newer token is revoked too"
    assert refresh(api, other_login).status_code == 200, "another login's family is untouched"


def test_concurrent_refreshes_of_one_token_rotate_it_once(api: Api, user: User) -> None:
    token = log_in(api, user)["refresh_token"]
    calls = [lambda: api.arequest("POST", REFRESH, json={"refresh_token": token})] * 5
    responses = api.gather(*calls)
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert refresh(api, winner["refresh_token"]).status_code == 401, "the reuse revoked the family"


def test_unknown_refresh_token_returns_401(api: Api) -> None:
    response = refresh(api, "never-issued")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_refresh_token_returns_401(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = log_in(api, user)["refresh_token"]
    sql.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    assert refresh(api, token).status_code == 401


def test_refresh_token_expires_after_its_configured_lifetime(
    api: Api, user: User, settings: Settings, sql: psycopg.Connection[Any]
) -> None:
    log_in(api, user)
    row = sql.execute("SELECT extract(epoch FROM expires_at - created_at) FROM refresh_tokens")
    lifetime = row.fetchone()
    assert lifetime is not None
    assert float(lifetime[0]) == pytest.approx(settings.refresh_token_ttl, abs=1)


def test_refresh_token_of_a_deleted_user_returns_401(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    token = log_in(api, user)["refresh_token"]
    sql.execute("DELETE FROM users WHERE id = %s", (user.id,))
    assert refresh(api, token).status_code == 401


def test_logout_revokes_that_refresh_token_only(api: Api, user: User) -> None:
    ended, kept = log_in(api, user)["refresh_token"], log_in(api, user)["refresh_token"]
    assert api.post(LOGOUT, json={"refresh_token": ended}).status_code == 204
    assert refresh(api, ended).status_code == 401
    assert refresh(api, kept).status_code == 200


def test_logout_needs_no_access_token_and_answers_204_for_unknown_or_revoked_tokens(
    api: Api, user: User
) -> None:
    token = log_in(api, user)["refresh_token"]
    assert api.post(LOGOUT, json={"refresh_token": token}).status_code == 204
    assert api.post(LOGOUT, json={"refresh_token": token}).status_code == 204
    assert api.post(LOGOUT, json={"refresh_token": "never-issued"}).status_code == 204


def test_a_remembered_token_is_refused_once_it_expires(settings: Settings) -> None:
    short = dataclasses.replace(settings, access_token_ttl=1, clock_skew_seconds=0)
    reader = AccessTokenReader(short)
    token = issue_access_token(short, str(uuid.uuid4()), str(uuid.uuid4()))
    assert reader.read(token)
    time.sleep(1.1)
    with pytest.raises(Unauthorized):
        reader.read(token)


def test_exp_and_iat_allow_30_seconds_of_clock_skew(
    api: Api, user: User, settings: Settings
) -> None:
    now = int(time.time())

    def status(**claims: int) -> int:
        token = jwt.encode(claims_for(settings, user, **claims), settings.jwt_secret, "HS256")
        return int(api.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code)

    assert status(iat=now - 600, exp=now - 10) == 200, "expired 10 s ago: within the skew"
    assert status(iat=now + 10, exp=now + 600) == 200, "issued 10 s ahead: within the skew"
    assert status(iat=now - 600, exp=now - 60) == 401
    assert status(iat=now + 60, exp=now + 600) == 401
