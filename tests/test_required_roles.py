"""Every operation under /api/{user_id}/ declares the role it needs on the list it acts on
(x-required-role, SPEC §11), and no other operation declares one: the gate enforces what the
contract says, so an operation without a declaration would be an unchecked door."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg

from server.access.gate import RANKS
from server.contract.loading import Contract

ROLES = {"viewer", "editor", "owner"}


def test_every_operation_on_an_account_path_declares_its_role() -> None:
    operations = Contract().operations
    undeclared = [
        op.operation_id
        for op in operations
        if op.path.startswith("/api/{user_id}/") and op.required_role not in ROLES
    ]
    assert undeclared == []


def test_no_operation_elsewhere_declares_a_role() -> None:
    stray = [
        op.operation_id
        for op in Contract().operations
        if not op.path.startswith("/api/{user_id}/") and op.required_role is not None
    ]
    assert stray == []


def test_the_database_orders_roles_as_the_gate_does(sql: psycopg.Connection[Any]) -> None:
    for role, required in itertools.product([*RANKS, None], [*RANKS, None]):
        row = sql.execute("SELECT role_reaches(%s, %s)", (role, required)).fetchone()
        reaches = row[0] if row else None
        expected = role is not None and (required is None or RANKS[role] >= RANKS[required])
        assert reaches is expected, (role, required)
