"""Tasks: their handlers, fields, listing and cursors, ETags and idempotent creates."""
