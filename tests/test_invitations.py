"""Invitations (SPEC §11): the owner invites an address, an account whose email is verified and
equal to it (as users.email is compared) sees and answers it, anyone else gets the 404 of an
unknown id. Three accounts throughout: the owner, the invitee, and someone else. Mail goes
through the outbox to the suite's SMTP server."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from server.config import Settings
from tests.mailbox import Mailbox
from tests.sharing import accept, invitation_id, invite, join, make_list, verify
from tests.support import Api, User, later

PASSWORD = "correct horse battery"
SAME = ("type", "title", "status", "detail")


def address(tag: str = "invitee") -> str:
    return f"{tag}-{secrets.token_hex(5)}@example.org"


def problem(answer: Any) -> dict[str, Any]:
    return {k: answer.json()[k] for k in SAME}


def mine(api: Api, user: User) -> list[dict[str, Any]]:
    answer = api.get("/api/me/invitations", headers=user.headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["invitations"]
    return found


def decline(api: Api, user: User, invitation: str) -> Any:
    return api.post(f"/api/me/invitations/{invitation}/decline", headers=user.headers)


def revoke(api: Api, owner: User, list_id: str, invitation: str) -> Any:
    return api.delete(
        f"/api/{owner.id}/lists/{list_id}/invitations/{invitation}", headers=owner.headers
    )


def test_the_owner_invites_the_invitee_verifies_by_mail_accepts_and_joins_last(
    api: Api, mailbox: Mailbox, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user(name="Ada")
    shared = make_list(api, owner, "Groceries")
    email = address()
    made = invite(api, owner, shared["id"], email, "viewer")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "pending"
    assert (body["email"], body["role"]) == (email, "viewer")
    assert body["list"] == {"id": shared["id"], "name": "Groceries"}
    assert body["invited_by"] == {"id": owner.id, "name": "Ada"}
    expires = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert expires == timedelta(days=14)
    [mail] = mailbox.wait_for(email, idle=api.idle)
    assert invitation_id(mail) == body["id"]
    assert "Ada invited you to the list Groceries" in mail.message["Subject"]
    assert "as viewer" in mail.text
    # The invitee signs up with the address and follows the verification link.
    signed = api.post(
        "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Grace"}
    )
    assert signed.status_code == 201
    login = api.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    invitee_id = signed.json()["id"]
    assert api.get("/api/me/invitations", headers=headers).json() == {"invitations": []}
    unverified = api.post(f"/api/me/invitations/{body['id']}/accept", headers=headers)
    assert unverified.status_code == 404
    verification = [m for m in mailbox.wait_for(email, 2, idle=api.idle) if m is not mail]
    token = verification[0].token("verify-email")
    assert api.post("/api/auth/verify-email", json={"token": token}).status_code == 200
    listed = api.get("/api/me/invitations", headers=headers).json()["invitations"]
    assert listed == [body]
    own = make_list(api, User(invitee_id, email, PASSWORD, "Grace", login["access_token"], ""))
    joined = api.post(f"/api/me/invitations/{body['id']}/accept", headers=headers)
    assert joined.status_code == 200, joined.text
    assert (joined.json()["id"], joined.json()["user_id"]) == (shared["id"], owner.id)
    assert joined.json()["position"] > own["position"]  # placed last in the joiner's order
    (role,) = sql.execute(
        "SELECT role FROM list_members WHERE list_id = %s AND member_id = %s",
        (shared["id"], invitee_id),
    ).fetchone() or (None,)
    assert role == "viewer"
    assert api.get("/api/me/invitations", headers=headers).json() == {"invitations": []}
    states = api.get(f"/api/{owner.id}/lists/{shared['id']}/invitations", headers=owner.headers)
    assert [i["status"] for i in states.json()["invitations"]] == ["accepted"]


def test_only_the_verified_account_of_the_address_sees_or_answers_it(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    invitee = make_user(email=address())  # unverified for now
    stranger = verify(sql, make_user())
    shared = make_list(api, owner)
    made = invite(api, owner, shared["id"], invitee.email.upper()).json()
    missing = accept(api, stranger, "00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    for who in (invitee, stranger, owner):
        assert mine(api, who) == []
        for answer in (accept(api, who, made["id"]), decline(api, who, made["id"])):
            assert problem(answer) == problem(missing)
    verify(sql, invitee)
    assert [i["id"] for i in mine(api, invitee)] == [made["id"]]
    assert accept(api, invitee, made["id"]).status_code == 200


def test_an_answered_or_revoked_invitation_is_409_and_an_expired_one_410(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    shared = make_list(api, owner)
    url = shared["id"]
    accepted = invite(api, owner, url, invitee.email).json()["id"]
    assert accept(api, invitee, accepted).status_code == 200
    twice = accept(api, invitee, accepted)
    assert (twice.status_code, twice.json()["detail"]) == (409, "This invitation was accepted.")
    assert decline(api, invitee, accepted).status_code == 409
    assert revoke(api, owner, url, accepted).status_code == 409
    # Declined, revoked and expired invitations of another list.
    other = make_list(api, owner, "Work")["id"]
    declined = invite(api, owner, other, invitee.email).json()["id"]
    assert decline(api, invitee, declined).status_code == 204
    assert accept(api, invitee, declined).status_code == 409
    revoked = invite(api, owner, other, invitee.email).json()["id"]
    assert revoke(api, owner, other, revoked).status_code == 204
    assert revoke(api, owner, other, revoked).status_code == 409
    assert accept(api, invitee, revoked).json()["detail"] == "This invitation was revoked."
    expired = invite(api, owner, other, invitee.email).json()["id"]
    sql.execute(
        "UPDATE invitations SET expires_at = now() - interval '1 second', created_at = created_at"
        " - interval '14 days' WHERE id = %s",
        (expired,),
    )
    assert mine(api, invitee) == []
    for answer in (
        accept(api, invitee, expired),
        decline(api, invitee, expired),
        revoke(api, owner, other, expired),
    ):
        assert (answer.status_code, answer.json()["type"]) == (
            410,
            "urn:todo-api:problem:invitation-expired",
        )
    listed = api.get(f"/api/{owner.id}/lists/{other}/invitations", headers=owner.headers).json()
    assert [i["status"] for i in listed["invitations"]] == ["revoked", "declined", "expired"]
    again = invite(api, owner, other, invitee.email)  # an expired one no longer holds the address
    assert again.status_code == 201, again.text
    assert accept(api, invitee, again.json()["id"]).status_code == 200


def test_one_pending_invitation_per_list_and_address_in_any_letter_case(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    shared, other = make_list(api, owner), make_list(api, owner, "Work")
    email = address("Grace")
    assert invite(api, owner, shared["id"], email).status_code == 201
    second = invite(api, owner, shared["id"], email.lower(), "viewer")
    assert (second.status_code, second.json()["type"]) == (
        409,
        "urn:todo-api:problem:already-invited",
    )
    assert invite(api, owner, other["id"], email).status_code == 201  # another list
    racing = address()
    answers = api.gather(
        *[
            (
                lambda e=e: api.arequest(
                    "POST",
                    f"/api/{owner.id}/lists/{shared['id']}/invitations",
                    json={"email": e, "role": "editor"},
                    headers=owner.headers,
                )
            )
            for e in [racing, racing.upper(), racing] * 2
        ]
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    (count,) = sql.execute(
        "SELECT count(*) FROM invitations WHERE lower(email) = lower(%s)", (racing,)
    ).fetchone() or (None,)
    assert count == 1


def test_the_address_is_compared_as_accounts_are_unicode_that_grows_included(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    tag = secrets.token_hex(4)
    # 'İ' lower-cases to two code points in Python, to one in PostgreSQL, which compares
    # account addresses: the invitation follows the database, as signing up does.
    invitee = verify(sql, make_user(email=f"İLKER-{tag}@example.org"))
    shared = make_list(api, owner)
    made = invite(api, owner, shared["id"], f"ilker-{tag}@example.org")
    assert made.status_code == 201
    assert [i["id"] for i in mine(api, invitee)] == [made.json()["id"]]
    # The contract's addresses are ASCII (RFC 5321): one that is not is refused, never stored.
    refused = invite(api, owner, shared["id"], "İ" * 10 + "@example.org")
    assert (refused.status_code, refused.json()["errors"][0]["loc"]) == (422, ["body", "email"])
    longest = "x@" + ".".join(["A" * 60] * 4) + ".org"  # 249 characters, upper case
    made_long = invite(api, owner, shared["id"], longest)
    assert made_long.status_code == 201, made_long.text
    holder = verify(sql, make_user(email=longest.lower()))
    assert [i["email"] for i in mine(api, holder)] == [longest]
    assert accept(api, invitee, made.json()["id"]).status_code == 200


def test_the_owner_their_members_and_the_inbox_cannot_be_invited(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, member = make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, member, shared["id"], "editor")
    for email in (owner.email, owner.email.upper(), member.email.upper()):
        taken = invite(api, owner, shared["id"], email)
        assert (taken.status_code, taken.json()["type"]) == (
            409,
            "urn:todo-api:problem:already-member",
        )
    lists = api.get(f"/api/{owner.id}/lists", headers=owner.headers).json()["lists"]
    [inbox] = [entry for entry in lists if entry["is_inbox"]]
    refused = invite(api, owner, inbox["id"], address())
    assert (refused.status_code, refused.json()["type"]) == (
        409,
        "urn:todo-api:problem:inbox-not-shared",
    )
    (count,) = sql.execute("SELECT count(*) FROM invitations").fetchone() or (None,)
    assert count == 1  # the member's, accepted


def test_only_the_owner_invites_lists_and_revokes(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, editor, stranger = make_user(), make_user(), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, editor, shared["id"], "editor")
    pending = invite(api, owner, shared["id"], address()).json()["id"]
    base = f"/lists/{shared['id']}/invitations"
    for who, status in ((editor, 403), (stranger, 404)):
        asks = [
            api.post(
                f"/api/{who.id}{base}",
                json={"email": address(), "role": "viewer"},
                headers=who.headers,
            ),
            api.get(f"/api/{who.id}{base}", headers=who.headers),
            api.delete(f"/api/{who.id}{base}/{pending}", headers=who.headers),
        ]
        assert [a.status_code for a in asks] == [status] * 3
    listed = api.get(f"/api/{owner.id}{base}", headers=owner.headers).json()["invitations"]
    assert listed[0]["id"] == pending  # the newest first
    assert (
        revoke(api, owner, shared["id"], "00000000-0000-4000-8000-000000000000").status_code == 404
    )


def accept_and_revoke(
    api: Api, owner: User, invitee: User, list_id: str, made: str
) -> tuple[int, int]:
    """The statuses of an accept and a revoke of one invitation sent at once."""
    accepting, revoking = api.gather(
        lambda: api.arequest("POST", f"/api/me/invitations/{made}/accept", headers=invitee.headers),
        later(api, owner, "DELETE", f"/lists/{list_id}/invitations/{made}"),
    )
    return accepting.status_code, revoking.status_code


def test_concurrent_accept_and_revoke_exactly_one_wins(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    shared = make_list(api, owner)
    for _ in range(12):  # either may win; the loser answers as after it
        invitee = verify(sql, make_user())
        made = invite(api, owner, shared["id"], invitee.email).json()["id"]
        pair = accept_and_revoke(api, owner, invitee, shared["id"], made)
        assert pair in ((200, 409), (409, 204)), pair
        (joined,) = sql.execute(
            "SELECT count(*) FROM list_members WHERE list_id = %s AND member_id = %s",
            (shared["id"], invitee.id),
        ).fetchone() or (None,)
        (status,) = sql.execute(
            "SELECT status FROM invitations WHERE id = %s", (made,)
        ).fetchone() or (None,)
        assert (joined, status) == ((1, "accepted") if pair[0] == 200 else (0, "revoked"))


def test_invitations_per_owner_an_hour_are_limited_strictly(
    make_api: Callable[..., Api],
    settings: Settings,
    sql: psycopg.Connection[Any],
    make_user: Callable[..., User],
) -> None:
    with make_api(dataclasses.replace(settings, invitation_limit_per_hour=3)) as api:
        owner = make_user()
        first, second = make_list(api, owner), make_list(api, owner, "Work")
        answers = api.gather(
            *[
                (
                    lambda lid=lid: api.arequest(
                        "POST",
                        f"/api/{owner.id}/lists/{lid}/invitations",
                        json={"email": address(), "role": "viewer"},
                        headers=owner.headers,
                    )
                )
                for lid in [first["id"], second["id"]] * 4
            ]
        )
        assert sorted(a.status_code for a in answers) == [201] * 3 + [429] * 5
        limited = next(a for a in answers if a.status_code == 429)
        assert 0 < int(limited.headers["Retry-After"]) <= 3600
        other = make_user()  # another owner is not limited by the first's
        assert invite(api, other, make_list(api, other)["id"], address()).status_code == 201


def test_deleting_the_list_or_the_owner_ends_its_invitations_and_their_unsent_mail(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    doomed, kept = make_list(api, owner), make_list(api, owner, "Kept")
    ended = invite(api, owner, doomed["id"], invitee.email).json()["id"]
    later = invite(api, owner, kept["id"], invitee.email).json()["id"]
    for invitation in (ended, later):  # an unsent mail of each (not due for an hour)
        sql.execute(
            "INSERT INTO outbox (channel, payload, next_attempt_at) VALUES ('mail',"
            " jsonb_build_object('kind', 'invitation', 'invitation_id', %s::text),"
            " now() + interval '1 hour')",
            (invitation,),
        )
    assert (
        api.delete(f"/api/{owner.id}/lists/{doomed['id']}", headers=owner.headers).status_code
        == 204
    )
    assert [i["id"] for i in mine(api, invitee)] == [later]
    assert accept(api, invitee, ended).status_code == 404
    sql.execute("DELETE FROM users WHERE id = %s", (owner.id,))
    assert mine(api, invitee) == []
    assert accept(api, invitee, later).status_code == 404
    (unsent,) = sql.execute(
        "SELECT count(*) FROM outbox WHERE payload->>'invitation_id' = ANY(%s)"
        " AND sent_at IS NULL AND failed_at IS NULL",
        ([ended, later],),
    ).fetchone() or (None,)
    assert unsent == 0


def test_revoking_drops_the_unsent_mail(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    shared = make_list(api, owner)
    made = invite(api, owner, shared["id"], address()).json()["id"]
    sql.execute(
        "INSERT INTO outbox (channel, payload, next_attempt_at) VALUES ('mail',"
        " jsonb_build_object('kind', 'invitation', 'invitation_id', %s::text),"
        " now() + interval '1 hour')",
        (made,),
    )
    assert revoke(api, owner, shared["id"], made).status_code == 204
    (unsent,) = sql.execute(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND payload->>'invitation_id' = %s",
        (made,),
    ).fetchone() or (None,)
    assert unsent == 0


def test_invitations_follow_the_verified_address_at_the_time(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    shared = make_list(api, owner)
    old = invite(api, owner, shared["id"], invitee.email).json()["id"]
    moved = address("moved")
    new = invite(api, owner, shared["id"], moved).json()["id"]
    assert [i["id"] for i in mine(api, invitee)] == [old]
    sql.execute(
        "UPDATE users SET email = %s, email_verified = false WHERE id = %s", (moved, invitee.id)
    )
    assert mine(api, invitee) == []  # the new address is not verified yet
    assert accept(api, invitee, old).status_code == 404
    verify(sql, invitee)
    assert [i["id"] for i in mine(api, invitee)] == [new]
    assert accept(api, invitee, old).status_code == 404
    assert accept(api, invitee, new).status_code == 200


def test_a_declined_invitation_leaves_the_invitee_out(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, invitee, stranger = make_user(), verify(sql, make_user()), make_user()
    shared = make_list(api, owner)
    made = invite(api, owner, shared["id"], invitee.email).json()["id"]
    assert decline(api, invitee, made).status_code == 204
    assert mine(api, invitee) == []
    members = api.get(f"/api/{owner.id}/lists/{shared['id']}/members", headers=owner.headers)
    assert [m["user"]["id"] for m in members.json()["members"]] == [owner.id]
    assert (
        api.get(
            f"/api/{invitee.id}/lists/{shared['id']}/members", headers=invitee.headers
        ).status_code
        == 404
    )
    assert stranger.id not in {m["user"]["id"] for m in members.json()["members"]}


def test_an_invitation_expires_after_14_days_not_before(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, invitee = make_user(), verify(sql, make_user())
    shared = make_list(api, owner)
    made = invite(api, owner, shared["id"], invitee.email).json()
    expires = datetime.fromisoformat(made["expires_at"])
    assert expires > datetime.now(UTC) + timedelta(days=13, hours=23)
    sql.execute(
        "UPDATE invitations SET expires_at = now() + interval '1 minute' WHERE id = %s",
        (made["id"],),
    )
    assert accept(api, invitee, made["id"]).status_code == 200


def test_an_account_already_in_the_list_cannot_join_it_again(
    api: Api, sql: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    owner, member = verify(sql, make_user()), make_user()
    shared = make_list(api, owner)
    join(api, sql, owner, member, shared["id"], "viewer")
    # Invited at other addresses, which each of them then moves to (verified).
    for who in (member, owner):
        moved = address("moved")
        made = invite(api, owner, shared["id"], moved).json()["id"]
        sql.execute("UPDATE users SET email = %s WHERE id = %s", (moved, who.id))
        again = accept(api, who, made)
        assert (again.status_code, again.json()["type"]) == (
            409,
            "urn:todo-api:problem:already-member",
        )
    (count,) = sql.execute(
        "SELECT count(*) FROM list_members WHERE list_id = %s", (shared["id"],)
    ).fetchone() or (None,)
    assert count == 1


def test_mail_enabled_false_turns_the_invitation_routes_off_and_queues_no_mail(
    settings: Settings,
    make_api: Callable[..., Api],
    sql: psycopg.Connection[Any],
    make_user: Callable[..., User],
) -> None:
    # Without mail nobody can verify an address, so nobody could answer an invitation, and its
    # mail would wait in the outbox unsent until /ready turned 503 (OUTBOX_READY_SECONDS).
    owner, invitee = make_user(), verify(sql, make_user())
    with make_api(dataclasses.replace(settings, mail_enabled=False)) as api:
        shared = make_list(api, owner)
        refused = invite(api, owner, shared["id"], invitee.email)
        assert (refused.status_code, refused.json()["detail"]) == (
            404,
            "No route matches this path.",
        )
        some = "6d2c8e4a-0b1f-4a3c-9e7d-5f6a7b8c9d0e"
        for method, path in (
            ("GET", "/api/me/invitations"),
            ("POST", f"/api/me/invitations/{some}/accept"),
            ("POST", f"/api/me/invitations/{some}/decline"),
        ):
            answer = api.request(method, path, headers=invitee.headers)
            assert (answer.status_code, answer.json()["detail"]) == (
                404,
                "No route matches this path.",
            ), path
    (made,) = sql.execute(
        "SELECT count(*) FROM invitations WHERE list_id = %s", (shared["id"],)
    ).fetchone() or (None,)
    (queued,) = sql.execute(
        "SELECT count(*) FROM outbox WHERE payload->>'kind' = 'invitation'"
        " AND payload->>'user_id' = %s",
        (owner.id,),
    ).fetchone() or (None,)
    assert (made, queued) == (0, 0)


def test_names_in_the_invitation_mail_stay_on_their_line(
    api: Api, mailbox: Mailbox, make_user: Callable[..., User]
) -> None:
    # A list's and an account's names may hold line breaks; in the mail they would start lines
    # of their own, such as a link that looks like the invitation's own.
    fake = "https://evil.example/invitations/1"
    owner = make_user()
    named = api.patch("/api/me", json={"name": f"Ada\r\n\r\n{fake}\r\n"}, headers=owner.headers)
    assert named.status_code == 200, named.text
    shared = make_list(api, owner, f"Groceries\n\n{fake}\n\nReply with your password")
    email = address()
    made = invite(api, owner, shared["id"], email)
    assert made.status_code == 201, made.text
    [mail] = mailbox.wait_for(email, idle=api.idle)
    lines = [line.strip() for line in mail.text.splitlines()]
    assert [line for line in lines if line.startswith("http")] == [
        f"{api.app.ctx.settings.app_url}/invitations/{made.json()['id']}"
    ], mail.text
    assert not any(line.startswith("Reply with") for line in lines), mail.text
