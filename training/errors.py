"""Errors a user can cause; the CLI prints them as one line and exits non-zero."""


class TrainingError(Exception):
    """A problem the user can fix: bad input, missing data, missing settings."""
