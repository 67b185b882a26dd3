"""Which queued requests run together: the batching policy, a plain object of the queue and the
clock (the worker thread asks it, then waits, swaps models and delivers).

Nothing here waits, locks or generates, so the policy is tested without threads, a model or the
wall clock. The rules, given the queue (oldest first) and the time:
- A batch holds at most `max_batch` rows (a request for k samples is k rows). The oldest request
  always goes, whatever its k; the ones behind it follow in order while they fit.
- Nothing waits when the queue already holds `max_batch` rows, or the worker is draining.
- Regathering: callers of the last batch usually come straight back (a song's next line). Until
  as many requests have arrived since it ended as it served, the next batch waits for them: up
  to REGATHER_SHARE of that batch's time after its end, and at least `batch_window` after its
  oldest request arrived. So the steps of many songs stay in one batch instead of drifting into
  several smaller ones.
- Once that many have come, it goes at once: it is as large as the last, and waiting longer for
  company costs every caller in it (a lone verse paid the whole window on each line step, 15 ms
  on a 0.1 s call).
- Before the first batch it waits `batch_window` after its oldest request arrived, for others
  arriving with it (a burst of songs starting together).
- A request taken for a batch after its deadline expires: it is never generated.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

REGATHER_SHARE = 0.1  # of the last batch's time, waited at most for its callers to come back


class Queued(Protocol):
    """What the policy reads of a queued request."""

    @property
    def rows(self) -> int:
        """Return the rows it takes in a batch (its k samples)."""

    @property
    def arrived(self) -> float:
        """Return when it was queued, in monotonic seconds."""

    @property
    def deadline(self) -> float | None:
        """Return when it stops being worth generating (None: never)."""

    @property
    def number(self) -> int:
        """Return its place in the order of arrival: 1 for the first request ever queued."""


Q = TypeVar("Q", bound=Queued)


@dataclass(frozen=True)
class Pick(Generic[Q]):
    """The policy's answer: a batch to run now, or when to look again."""

    batch: list[Q] = field(default_factory=list)  # run together now, oldest first
    expired: list[Q] = field(default_factory=list)  # taken off the queue unserved: too late
    wait_until: float | None = None  # set when nothing goes yet: look again by then
    taken: int = 0  # requests to take off the front of the queue: the batch and the expired


class Scheduler:
    """The batching policy of one worker; it remembers only the last batch it was told of."""

    def __init__(self, max_batch: int, batch_window: float) -> None:
        self.max_batch = max_batch
        self.batch_window = batch_window  # seconds
        self._wanted = 0  # the arrival number whose coming marks the last batch's callers back
        self._regather_until = 0.0

    def pick(self, pending: Sequence[Q], now: float, draining: bool = False) -> Pick[Q]:
        """Say what to do with `pending` (the queue, oldest first, not empty) at time `now`."""
        window_end = pending[0].arrived + self.batch_window
        if not self._wanted:  # no batch yet: wait for company that may be on its way
            end = window_end
        elif pending[-1].number < self._wanted:  # some callers of the last batch not back yet
            end = max(window_end, self._regather_until)
        else:  # as large as the last batch: go
            end = now
        if sum(q.rows for q in pending) < self.max_batch and not draining and now < end:
            return Pick(wait_until=end)
        taken, rows = [pending[0]], pending[0].rows  # the oldest always goes, whatever its k
        for queued in itertools.islice(pending, 1, None):  # a deque cannot be sliced
            if rows + queued.rows > self.max_batch:
                break
            taken.append(queued)
            rows += queued.rows
        late = [q.deadline is not None and now > q.deadline for q in taken]
        return Pick(batch=[q for q, too_late in zip(taken, late, strict=True) if not too_late],
                    expired=[q for q, too_late in zip(taken, late, strict=True) if too_late],
                    taken=len(taken))

    def ran(self, served: int, arrivals: int, started: float, ended: float) -> None:
        """Note a batch that generated for `served` requests from `started` to `ended`, when
        `arrivals` requests had been queued in all: the next pick waits for its callers."""
        self._wanted = arrivals + served
        self._regather_until = ended + REGATHER_SHARE * (ended - started)
