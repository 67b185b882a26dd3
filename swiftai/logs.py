"""Logging both commands set up the same way: each library message printed once, by us."""

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
