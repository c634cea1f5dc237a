"""Comments on tasks (SPEC §11)."""
