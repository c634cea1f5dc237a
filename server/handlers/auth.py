"""Handlers of the contract tag `auth`."""
