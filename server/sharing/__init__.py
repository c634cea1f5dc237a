"""Sharing lists (issue 26, SPEC §11): members and invitations."""
