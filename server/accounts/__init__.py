"""Accounts: signup, login, refresh and logout, the signed-in user's own account and sessions,
passwords, and the limits on login and signup."""
