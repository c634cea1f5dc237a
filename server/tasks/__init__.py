"""Tasks: their handlers, fields, listing, placement, dates and recurrence, reminders, and
idempotent creates."""
