"""Per-user cooldowns, in memory (a restart forgives everyone, which is fine)."""

from __future__ import annotations

import time

from bot.errors import OnCooldown


class Cooldowns:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[str, float] = {}

    def check(self, user: str) -> None:
        """Raise OnCooldown if `user` asked less than `seconds` ago; else start their cooldown."""
        now = time.monotonic()
        last = self._last.get(user)
        if last is not None and now - last < self.seconds:
            raise OnCooldown(self.seconds - (now - last))
        self._last[user] = now
        if len(self._last) > 10_000:  # forget users whose cooldown is long over
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}

    def forgive(self, user: str) -> None:
        """Undo a user's cooldown (their request was never served)."""
        self._last.pop(user, None)
