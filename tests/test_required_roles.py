"""Every operation under /api/{user_id}/ declares the role it needs on the list it acts on
(x-required-role, SPEC §11), and no other operation declares one: the gate enforces what the
contract says, so an operation without a declaration would be an unchecked door."""

from __future__ import annotations

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
