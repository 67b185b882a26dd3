"""Logging both commands set up the same way: each library message printed once, by us; and
an error said in one line, for a log line or the one line a command prints on failure."""

from __future__ import annotations

import logging


def route_library_logs() -> None:
    """Print transformers' and huggingface_hub's log messages once, through our handler.

    Each library adds a bare handler of its own, and huggingface_hub also passes its records
    on to ours, so each of its messages (every hub retry, say) was printed twice.
    """
    import huggingface_hub.utils.logging  # noqa: F401  (adds its handler on import)
    import transformers.utils.logging

    transformers.utils.logging.get_logger()  # transformers adds its handler on first use
    for name in ("transformers", "huggingface_hub"):
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            library.removeHandler(handler)
        library.propagate = True


def one_line(error: BaseException, limit: int | None = 300, typed: bool = False) -> str:
    """Say an error in one line: its message with every run of whitespace one space, cut to
    `limit` characters (None: whole); its type's name when it has no message, or before it
    with `typed` ("TimeoutError: ...")."""
    words = " ".join(str(error).split())[:limit]
    name = type(error).__name__
    if not words:
        return name
    return f"{name}: {words}" if typed else words
