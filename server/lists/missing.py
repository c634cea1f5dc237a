"""A list that is not the caller's (another's, deleted, never made) where a body names one: the
one wording of those 422s, each ending with what leaving list_id out means there."""

from __future__ import annotations


def not_your_list(without: str) -> str:
    """The message at `list_id`; `without`: what a request without list_id does instead."""
    return (
        "is not one of your lists: send the id of a list from GET /api/{user_id}/lists, or leave"
        f" list_id out {without}"
    )
