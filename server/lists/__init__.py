"""The user's lists (the inbox among them)."""
