"""Handlers, one module per contract tag; each public coroutine is named by its operationId."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from server.accounts import (
    access_tokens,
    auth,
    email_change,
    me,
    recovery,
    sessions,
    verification,
)
from server.comments import handlers as comments
from server.feeds import handlers as feeds
from server.lists import handlers as lists
from server.push import handlers as push
from server.sharing import invitations, invited, members
from server.sync import batch, trash
from server.sync import handlers as sync
from server.system import handlers as system
from server.tasks import handlers as tasks
from server.transfer import handlers as transfer
from server.webhooks import handlers as webhooks

MODULES: tuple[ModuleType, ...] = (
    auth,
    me,
    sessions,
    access_tokens,
    verification,
    recovery,
    email_change,
    push,
    tasks,
    lists,
    comments,
    members,
    invitations,
    invited,
    trash,
    batch,
    sync,
    feeds,
    transfer,
    webhooks,
    system,
)


def collect(modules: tuple[ModuleType, ...] = MODULES) -> dict[str, Any]:
    """Every public coroutine function defined in the handler modules, by name."""
    found: dict[str, Any] = {}
    for module in modules:
        for name, fn in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.iscoroutinefunction(fn)
                and fn.__module__ == module.__name__
            ):
                found[name] = fn
    return found
