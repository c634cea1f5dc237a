"""Email change (SPEC §12): asked with the password, a link to the new address and a notice to
the old; confirmed, the account moves there verified, unless an account took the address
meanwhile (409; the link works again once it is free). A password change or a reset voids a
pending change, as a change voids a pending reset."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from tests.mailbox import Mailbox
from tests.support import Api, User, while_deleted

CHANGE, CONFIRM = "/api/me/email", "/api/auth/confirm-email-change"


def new_address() -> str:
    return f"moved-{secrets.token_hex(5)}@example.org"


def ask(api: Api, user: User, address: str, password: str | None = None) -> Any:
    body = {"new_email": address, "password": password or user.password}
    return api.put(CHANGE, json=body, headers=user.headers)


def confirmation(api: Api, mailbox: Mailbox, address: str) -> str:
    return mailbox.wait_for(address, idle=api.idle)[-1].token("confirm-email")


def test_a_change_mails_the_new_address_and_tells_the_old_then_moves_the_account(
    api: Api, mailbox: Mailbox, user: User
) -> None:
    address = new_address()
    assert ask(api, user, address).status_code == 202
    token = confirmation(api, mailbox, address)
    [notice] = mailbox.wait_for(user.email, idle=api.idle)
    assert address in notice.text
    assert "change your password" in notice.text
    assert api.get("/api/me", headers=user.headers).json()["email"] == user.email  # not yet
    moved = api.post(CONFIRM, json={"token": token})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["email"], moved.json()["email_verified"]) == (address, True)
    login = api.post("/api/auth/login", json={"email": address, "password": user.password})
    assert login.status_code == 200
    assert api.post(CONFIRM, json={"token": token}).status_code == 400


def test_a_wrong_password_is_403_and_mails_nothing(api: Api, mailbox: Mailbox, user: User) -> None:
    address = new_address()
    assert ask(api, user, address, password="not the password").status_code == 403
    api.idle(0.5)
    assert mailbox.to(address) == []


def test_an_address_in_use_is_409_at_once(
    api: Api, user: User, make_user: Callable[..., User]
) -> None:
    other = make_user()
    assert ask(api, user, other.email.upper()).status_code == 409
    same = ask(api, user, user.email)
    assert same.status_code == 409
    assert same.json()["detail"] == "This is already the account's email address."


def test_a_change_of_letter_case_only_is_confirmed_from_the_new_spelling(
    api: Api, mailbox: Mailbox, make_user: Callable[..., User]
) -> None:
    user = make_user(email=f"ada.king-{secrets.token_hex(4)}@example.org")
    spelt = user.email.replace("ada.king", "Ada.King")
    assert ask(api, user, spelt).status_code == 202
    mails = mailbox.wait_for(spelt, 2, idle=api.idle)  # the link, and the notice to the old
    [link] = [m for m in mails if m.recipients == [spelt]]
    moved = api.post(CONFIRM, json={"token": link.token("confirm-email")})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["email"], moved.json()["email_verified"]) == (spelt, True)
    for login_as in (spelt, user.email):
        login = api.post("/api/auth/login", json={"email": login_as, "password": user.password})
        assert login.status_code == 200


def test_an_address_taken_before_the_confirmation_is_409_and_the_link_works_once_free(
    api: Api, mailbox: Mailbox, user: User, make_user: Callable[..., User]
) -> None:
    address = new_address()
    ask(api, user, address)
    token = confirmation(api, mailbox, address)
    squatter = make_user(email=address.upper())
    taken = api.post(CONFIRM, json={"token": token})
    assert taken.status_code == 409
    assert taken.json()["type"] == "urn:todo-api:problem:email-taken"
    gone = api.request(
        "DELETE", "/api/me", json={"password": squatter.password}, headers=squatter.headers
    )
    assert gone.status_code == 204
    assert api.post(CONFIRM, json={"token": token}).json()["email"] == address


@pytest.mark.parametrize("how", ["password change", "password reset"])
def test_a_new_password_voids_a_pending_change(
    api: Api, mailbox: Mailbox, user: User, how: str
) -> None:
    address = new_address()
    ask(api, user, address)
    token = confirmation(api, mailbox, address)
    if how == "password change":
        body = {"current_password": user.password, "new_password": "the owner's new one"}
        assert api.put("/api/me/password", json=body, headers=user.headers).status_code == 204
    else:
        api.post("/api/auth/password-reset", json={"email": user.email})
        reset = mailbox.wait_for(user.email, 2, idle=api.idle)[-1].token("reset-password")
        body = {"token": reset, "new_password": "the owner's new one"}
        assert api.post("/api/auth/password-reset/confirm", json=body).status_code == 204
    voided = api.post(CONFIRM, json={"token": token})
    assert voided.status_code == 400
    assert voided.json()["type"] == "urn:todo-api:problem:invalid-token"


def test_a_confirmed_change_voids_a_pending_reset(api: Api, mailbox: Mailbox, user: User) -> None:
    api.post("/api/auth/password-reset", json={"email": user.email})
    reset = mailbox.wait_for(user.email, idle=api.idle)[-1].token("reset-password")
    address = new_address()
    ask(api, user, address)
    assert api.post(CONFIRM, json={"token": confirmation(api, mailbox, address)}).status_code == 200
    late = api.post(
        "/api/auth/password-reset/confirm",
        json={"token": reset, "new_password": "whoever it is now"},
    )
    assert late.status_code == 400


def test_two_concurrent_confirms_move_the_account_once(
    api: Api, mailbox: Mailbox, user: User
) -> None:
    address = new_address()
    ask(api, user, address)
    token = confirmation(api, mailbox, address)
    answers = api.gather(*[lambda: api.arequest("POST", CONFIRM, json={"token": token})] * 2)
    assert sorted(a.status_code for a in answers) == [200, 400]


def test_changes_are_limited_to_five_an_hour(api: Api, user: User) -> None:
    answers = [ask(api, user, new_address()).status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]


def test_a_change_asked_while_the_account_is_being_deleted_is_401_not_a_wrong_password(
    api: Api, mailbox: Mailbox, database_url: str, user: User
) -> None:
    address = new_address()
    body = {"new_email": address, "password": user.password}
    send = lambda: api.arequest("PUT", CHANGE, json=body, headers=user.headers)  # noqa: E731
    answer = while_deleted(api, database_url, user.id, send)
    assert answer.status_code == 401, answer.text
    api.idle(0.5)
    assert mailbox.to(address) == []
