"""Problems users can cause, each a friendly ephemeral reply (or a JSON error); and the one
problem an operator sees: the bot cannot start."""


from model.errors import GenerationError


class UserError(Exception):
    """Something the user can fix or wait out; the message is shown to them as it is."""


class PromptRejected(UserError):
    """A field of a request cannot be used: an empty or too long prompt, a number out of range,
    an unknown album; the message names the field."""


class OnCooldown(UserError):
    """The user asked again too soon; `retry_after` says in how many seconds they may."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message or f"slow down: you can ask again in {retry_after:.0f} s")
        self.retry_after = retry_after


class UnknownArtist(PromptRejected):
    """An artist this bot does not serve; the message names the ones it does."""


class RetrainRunning(UserError):
    """A retrain is already running."""


class NotReady(GenerationError):
    """The model is still loading: try again in a minute (answered at once, never queued)."""


class CannotStart(Exception):
    """`python -m bot` cannot start; the message names the file or setting and what to do."""
