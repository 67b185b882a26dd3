"""Errors callers of the model package can show to people as they are."""


class RegistryError(Exception):
    """A run cannot be found, loaded or published; the message says why."""


class GenerationError(Exception):
    """A request that cannot be served; the message is fit for the user."""


class Busy(GenerationError):
    """The queue is full: try again in a moment."""


class Stopped(GenerationError):
    """The worker is shutting down and takes no more work."""


class DeadlineExceeded(GenerationError):
    """The request waited past its deadline and was dropped before generation."""


class BadRequest(GenerationError):
    """The request itself cannot be generated (e.g. a prompt longer than the model's context)."""


class OutOfMemory(GenerationError):
    """The device ran out of memory for a batch; the worker splits it and tries again."""


class Offline(GenerationError):
    """No inference server answers: nothing can be generated until one is back."""
