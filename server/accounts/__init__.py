"""Accounts: signup, login, tokens, the signed-in user's own account, password hashing."""
