"""Keep the candidate log bounded: steps older than the retention keep only their kept option.

Every song logs each ranking step's candidates (about 60 rows for a whole song); after
CANDIDATE_RETENTION_DAYS the candidates that lost are deleted, at start and then hourly, so
the table holds at most that many days of losers plus one row per line ever shown.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bot.storage.store import Store, StoreUnavailable

log = logging.getLogger(__name__)
COMPACT_EVERY = 3600.0  # seconds between two compactions (the first runs at start)


def cutoff(days: int, now: datetime | None = None) -> str:
    """Return the ISO time (as the log writes it) before which candidates are compacted."""
    when = (now or datetime.now(UTC)) - timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def compact_once(store: Store, days: int) -> int:
    """Compact the candidates older than `days`; return how many were deleted."""
    before = cutoff(days)
    deleted = await store.compact_candidates(before)
    if deleted:
        log.info("compacted the candidate log: %d candidates of songs before %s deleted",
                 deleted, before)
    return deleted


async def compact_forever(store: Store, days: int, every: float = COMPACT_EVERY) -> None:
    """Compact now and every `every` seconds until cancelled; a failing log waits a turn."""
    while True:
        try:
            await compact_once(store, days)
        except StoreUnavailable as e:  # a full disk: the next turn tries again
            log.error("could not compact the candidate log: %s", e)
        await asyncio.sleep(every)
