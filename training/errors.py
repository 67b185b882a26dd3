"""Errors a user can cause; the CLI prints them as one line and exits non-zero."""

from model.errors import RegistryError


class TrainingError(Exception):
    """A problem the user can fix: bad input, missing data, missing settings."""


def one_line(error: BaseException, limit: int = 400) -> str:
    """Say what went wrong in one line: our own errors as they are, a library's with its type."""
    text = " ".join(str(error).split())
    if not isinstance(error, TrainingError | RegistryError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text[:limit]
