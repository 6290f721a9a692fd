"""Shared logic of the presence (user-status) service, shipped to every function as a layer."""
