"""Browser mode (`X-Auth-Mode: browser`): login, refresh and logout keep the refresh token in
an HttpOnly, Secure, SameSite=Strict cookie scoped to /api/auth (never in the body), beside the
event stream's cookie; CSRF is refused (no header, a foreign origin, a cross-site fetch); a
reused refresh token still ends the family. Cookies are sent by hand: httpx, like a browser,
keeps Secure cookies off plain http."""

from __future__ import annotations

import asyncio
import dataclasses
from http.cookies import SimpleCookie
from typing import Any

import psycopg
import pytest

from server.accounts.auth import REUSE_GRACE_SECONDS
from server.accounts.browser import ORIGIN_REFUSED, SITE_REFUSED
from server.config import Settings
from tests.support import Api, User
from tests.test_sessions import LOGIN, LOGOUT, ME, REFRESH, bearer

BROWSER = {"X-Auth-Mode": "browser"}


def cookies_of(response: Any) -> dict[str, str]:
    """Each Set-Cookie of the answer by cookie name, its whole header value."""
    return {
        next(iter(SimpleCookie(value))): value for value in response.headers.get_list("set-cookie")
    }


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def browser_login(api: Api, user: User, **headers: str) -> Any:
    body = {"email": user.email, "password": user.password}
    return api.post(LOGIN, json=body, headers={**BROWSER, **headers})


def refresh_with(api: Api, refresh: str, **headers: str) -> Any:
    return api.post(REFRESH, headers={**BROWSER, "Cookie": f"refresh_token={refresh}", **headers})


def test_browser_login_sets_both_cookies_with_exact_attributes(
    api: Api, user: User, settings: Settings
) -> None:
    response = browser_login(api, user)
    assert response.status_code == 200
    pair = response.json()
    assert "refresh_token" not in pair  # no script on the page can read it
    assert pair["user"]["id"] == user.id
    cookies = cookies_of(response)
    assert set(cookies) == {"refresh_token", "stream_token"}
    refresh, stream = cookie_value(cookies["refresh_token"]), cookie_value(cookies["stream_token"])
    assert len(refresh) >= 43  # 256 random bits
    assert cookies["refresh_token"] == (
        f"refresh_token={refresh}; Path=/api/auth; Max-Age={settings.refresh_token_ttl};"
        " HttpOnly; Secure; SameSite=Strict"
    )
    assert cookies["stream_token"] == (
        f"stream_token={stream}; Path=/api/{user.id}/events;"
        f" Max-Age={settings.refresh_family_ttl}; HttpOnly; Secure; SameSite=Strict"
    )
    assert api.get(ME, headers=bearer(pair)).status_code == 200


def test_a_native_login_sets_no_cookie(api: Api, user: User) -> None:
    response = api.post(LOGIN, json={"email": user.email, "password": user.password})
    assert response.status_code == 200
    assert response.json()["refresh_token"]
    assert response.headers.get_list("set-cookie") == []


def test_browser_refresh_rotates_the_cookie_and_a_reused_one_ends_the_family(
    api: Api, user: User
) -> None:
    first = cookie_value(cookies_of(browser_login(api, user))["refresh_token"])
    rotated = refresh_with(api, first)
    assert rotated.status_code == 200
    assert "refresh_token" not in rotated.json()
    cookies = cookies_of(rotated)
    assert set(cookies) == {"refresh_token", "stream_token"}
    second = cookie_value(cookies["refresh_token"])
    assert second != first
    third = cookie_value(cookies_of(refresh_with(api, second))["refresh_token"])
    reused = refresh_with(api, first)  # a stolen copy of the first, its successor spent
    assert reused.status_code == 401
    assert refresh_with(api, third).status_code == 401  # the whole family ended
    assert api.get(ME, headers=bearer(rotated.json())).status_code == 401


def test_two_tabs_spending_one_cookie_at_once_both_keep_the_session(api: Api, user: User) -> None:
    """Two tabs of a browser without Web Locks refresh together with the cookie they share: each
    gets the same successor, and the session goes on (no reuse, no logout)."""
    first = cookie_value(cookies_of(browser_login(api, user))["refresh_token"])
    spend = {**BROWSER, "Cookie": f"refresh_token={first}"}

    async def both() -> list[Any]:
        tabs = [api.arequest("POST", REFRESH, headers=spend) for _ in range(2)]
        return list(await asyncio.gather(*tabs))

    answers = api.run(both())
    assert [answer.status_code for answer in answers] == [200, 200]
    successors = {cookie_value(cookies_of(answer)["refresh_token"]) for answer in answers}
    assert len(successors) == 1
    assert refresh_with(api, successors.pop()).status_code == 200
    assert all(api.get(ME, headers=bearer(a.json())).status_code == 200 for a in answers)


def test_a_cookie_spent_again_after_the_grace_ends_the_family(
    api: Api, user: User, sql: psycopg.Connection[Any]
) -> None:
    """A page reload that cut off the answer of its refresh presents the spent cookie again:
    within the grace it gets the successor; after it, it is a reuse."""
    login = browser_login(api, user)
    first = cookie_value(cookies_of(login)["refresh_token"])
    second = cookie_value(cookies_of(refresh_with(api, first))["refresh_token"])
    again = refresh_with(api, first)
    assert (again.status_code, cookie_value(cookies_of(again)["refresh_token"])) == (200, second)
    sql.execute(
        "UPDATE refresh_tokens SET rotated_at = now() - make_interval(secs => %s)"
        " WHERE rotated_at IS NOT NULL",
        (REUSE_GRACE_SECONDS + 1,),
    )
    assert refresh_with(api, first).status_code == 401
    assert refresh_with(api, second).status_code == 401  # the whole family ended
    assert api.get(ME, headers=bearer(login.json())).status_code == 401


def test_the_grace_is_browser_modes_alone(api: Api, user: User) -> None:
    """A native client holds its token in one place: spending it twice is a reuse at once."""
    pair = api.post(LOGIN, json={"email": user.email, "password": user.password}).json()
    rotated = api.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200
    assert api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).status_code == 401
    successor = rotated.json()["refresh_token"]
    assert api.post(REFRESH, json={"refresh_token": successor}).status_code == 401


def test_browser_refresh_without_its_cookie_is_refused(api: Api, user: User) -> None:
    response = api.post(REFRESH, headers=BROWSER)
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "The refresh token is invalid, expired or revoked; log in again."
    )


def test_a_body_is_the_token_presented_in_browser_mode_too(api: Api, user: User) -> None:
    """A native session moved into browser mode: its body's token is spent, the cookie set."""
    pair = api.post(LOGIN, json={"email": user.email, "password": user.password}).json()
    moved = api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}, headers=BROWSER)
    assert moved.status_code == 200
    assert "refresh_token" not in moved.json()
    successor = cookie_value(cookies_of(moved)["refresh_token"])
    assert refresh_with(api, successor).status_code == 200
    assert api.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_without_a_body_or_browser_mode_no_token_is_presented(api: Api, user: User) -> None:
    """The contract's body is optional (browser mode sends none): a native call without one
    presents no token, and the cookie is never read without the header."""
    login = browser_login(api, user)
    refresh = cookie_value(cookies_of(login)["refresh_token"])
    headers = {"Cookie": f"refresh_token={refresh}"}
    refused = api.post(REFRESH, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["detail"] == (
        "The refresh token is invalid, expired or revoked; log in again."
    )
    assert api.post(LOGOUT, headers=headers).status_code == 204
    assert api.get(ME, headers=bearer(login.json())).status_code == 200  # not ended
    assert refresh_with(api, refresh).status_code == 200  # not spent


def test_browser_logout_ends_the_family_and_clears_both_cookies(api: Api, user: User) -> None:
    login = browser_login(api, user)
    refresh = cookie_value(cookies_of(login)["refresh_token"])
    response = api.post(LOGOUT, headers={**BROWSER, "Cookie": f"refresh_token={refresh}"})
    assert response.status_code == 204
    assert cookies_of(response) == {
        "refresh_token": "refresh_token=; Path=/api/auth; Max-Age=0; HttpOnly; Secure;"
        " SameSite=Strict",
        "stream_token": f"stream_token=; Path=/api/{user.id}/events; Max-Age=0; HttpOnly;"
        " Secure; SameSite=Strict",
    }
    assert api.get(ME, headers=bearer(login.json())).status_code == 401
    assert refresh_with(api, refresh).status_code == 401


def test_browser_logout_of_an_unknown_token_clears_the_refresh_cookie(api: Api) -> None:
    response = api.post(LOGOUT, headers={**BROWSER, "Cookie": "refresh_token=nothing-of-ours"})
    assert response.status_code == 204
    assert set(cookies_of(response)) == {"refresh_token"}


# A cross-site request forgery: what another page can make the browser send with the cookie.
@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Origin": "https://evil.example"}, ORIGIN_REFUSED),
        ({"Origin": "null"}, ORIGIN_REFUSED),  # a sandboxed frame, a file
        ({"Sec-Fetch-Site": "cross-site"}, SITE_REFUSED),
        ({"Origin": "http://localhost:5173", "Sec-Fetch-Site": "cross-site"}, SITE_REFUSED),
    ],
)
def test_browser_mode_from_a_foreign_origin_is_403_and_spends_nothing(
    api: Api, user: User, headers: dict[str, str], detail: str
) -> None:
    refresh = cookie_value(cookies_of(browser_login(api, user))["refresh_token"])
    for path in (REFRESH, LOGOUT):
        answer = api.post(
            path, headers={**BROWSER, "Cookie": f"refresh_token={refresh}", **headers}
        )
        assert answer.status_code == 403
        assert answer.json()["detail"] == detail
        assert answer.headers.get_list("set-cookie") == []
    login = browser_login(api, user, **headers)
    assert (login.status_code, login.headers.get_list("set-cookie")) == (403, [])
    assert refresh_with(api, refresh).status_code == 200  # neither spent nor ended


def test_a_dev_server_on_localhost_calling_127_0_0_1_is_told_to_share_the_site(
    api: Api, user: User
) -> None:
    """Vite serves http://localhost:5173; the service listens on 127.0.0.1: an allowed origin,
    but another site, whose SameSite=Strict cookies the browser would never send. What
    Chromium sends, and the answer says what to change (not that the origin is refused)."""
    sent = {"Origin": "http://localhost:5173", "Sec-Fetch-Site": "cross-site"}
    answer = browser_login(api, user, **sent)
    assert (answer.status_code, answer.json()["detail"]) == (403, SITE_REFUSED)
    assert SITE_REFUSED == (
        "Browser mode needs the page and the service on one site (its cookies are"
        " SameSite=Strict), and this call comes from another site: http://localhost and"
        " http://127.0.0.1 are two sites, so open the page on the host name of the service's"
        " URL, or proxy /api through the dev server."
    )
    same_site = {"Origin": "http://127.0.0.1:5173", "Sec-Fetch-Site": "same-site"}
    assert browser_login(api, user, **same_site).status_code == 200


def test_a_form_post_without_the_header_never_reads_the_cookie(api: Api, user: User) -> None:
    """What a cross-site HTML form can send: the cookie, no custom header, a form body (or
    none)."""
    login = browser_login(api, user)
    refresh = cookie_value(cookies_of(login)["refresh_token"])
    sent = {"Cookie": f"refresh_token={refresh}", "Origin": "https://evil.example"}
    for path, empty in ((REFRESH, 401), (LOGOUT, 204)):
        form = api.post(path, headers=sent, data={"refresh_token": "x"})
        assert (form.status_code, form.headers.get_list("set-cookie")) == (415, [])
        bare = api.post(path, headers=sent)
        assert (bare.status_code, bare.headers.get_list("set-cookie")) == (empty, [])
    assert api.get(ME, headers=bearer(login.json())).status_code == 200  # not ended
    assert refresh_with(api, refresh).status_code == 200  # not spent


def test_browser_mode_from_an_allowed_origin_works(
    api: Api, user: User, settings: Settings, make_api: Any
) -> None:
    assert browser_login(api, user, Origin="http://localhost:5173").status_code == 200
    configured = ("https://app.example.org",)
    production = dataclasses.replace(settings, app_env="production", cors_origins=configured)
    with make_api(production) as prod:
        assert browser_login(prod, user, Origin="https://app.example.org").status_code == 200
        assert browser_login(prod, user, Origin=prod.base).status_code == 200  # its own
        assert browser_login(prod, user, Origin="http://localhost:5173").status_code == 403


def test_an_unknown_mode_is_a_400(api: Api, user: User) -> None:
    body = {"email": user.email, "password": user.password}
    response = api.post(LOGIN, json=body, headers={"X-Auth-Mode": "cookie"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["header", "X-Auth-Mode"]
