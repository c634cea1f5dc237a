"""Handlers of the contract tag `me`."""
