"""The user's lists (the inbox among them) and the manual order of lists and tasks."""
