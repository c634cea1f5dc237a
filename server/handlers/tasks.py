"""Handlers of the contract tag `tasks`."""
