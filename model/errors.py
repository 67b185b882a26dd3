"""Errors callers of the model package can show to people as they are."""


class RegistryError(Exception):
    """A run cannot be found, loaded or published; the message says why."""
