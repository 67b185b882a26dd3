"""The batching policy on its own: a queue of plain records and a clock given as a number, no
thread, no model, no sleeping."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from model.serving.scheduler import REGATHER_SHARE, Scheduler

WINDOW = 0.015  # seconds, as BATCH_WINDOW_MS=15


@dataclass(eq=False)
class Queued:
    number: int
    arrived: float
    rows: int = 1
    deadline: float | None = None


def queue(*rows: int, start: float = 100.0, first: int = 1) -> deque[Queued]:
    """Requests of these rows, arrived a millisecond apart from `start`, numbered from `first`
    (a deque, as the worker keeps them)."""
    return deque(Queued(first + i, start + i / 1000, k) for i, k in enumerate(rows))


def test_a_lone_request_waits_out_the_window_then_goes_alone():
    scheduler = Scheduler(max_batch=8, batch_window=WINDOW)
    pending = queue(1)
    assert scheduler.pick(pending, 100.0).wait_until == 100.0 + WINDOW
    assert scheduler.pick(pending, 100.0 + WINDOW).batch == list(pending)


def test_the_window_runs_from_the_oldest_request():
    scheduler = Scheduler(max_batch=8, batch_window=WINDOW)
    pending = queue(1, 1, 1)  # the last arrived 2 ms after the first
    waiting = scheduler.pick(pending, 100.002)
    assert waiting.wait_until == 100.0 + WINDOW and waiting.batch == [] and waiting.taken == 0
    assert scheduler.pick(pending, 100.0 + WINDOW).batch == list(pending)


def test_a_full_batch_goes_at_once():
    scheduler = Scheduler(max_batch=4, batch_window=WINDOW)
    pending = queue(2, 1, 1, 3)
    pick = scheduler.pick(pending, 100.0)
    assert pick.wait_until is None
    # 2 + 1 + 1 rows; the 3 behind them do not fit
    assert pick.batch == [pending[0], pending[1], pending[2]] and pick.taken == 3


def test_the_oldest_goes_whatever_its_rows_and_nobody_jumps_the_queue():
    scheduler = Scheduler(max_batch=4, batch_window=WINDOW)
    pending = queue(6, 1)
    assert scheduler.pick(pending, 100.0).batch == [pending[0]]  # 6 rows: over max_batch alone
    pending = queue(3, 2, 1)
    assert scheduler.pick(pending, 100.0 + WINDOW).batch == [pending[0]]  # the 1 waits its turn


def test_requests_past_their_deadline_are_taken_off_unserved():
    scheduler = Scheduler(max_batch=8, batch_window=WINDOW)
    pending = queue(1, 1, 1)
    pending[1].deadline = 100.01
    pending[2].deadline = 100.5
    pick = scheduler.pick(pending, 100.0 + WINDOW)
    assert pick.expired == [pending[1]] and pick.batch == [pending[0], pending[2]]
    assert pick.taken == 3


def test_an_expired_request_keeps_its_place_in_the_batch_it_was_taken_for():
    scheduler = Scheduler(max_batch=2, batch_window=WINDOW)
    pending = queue(1, 1, 1)
    pending[0].deadline = 100.0
    pick = scheduler.pick(pending, 100.0 + WINDOW)
    assert pick.expired == [pending[0]] and pick.batch == [pending[1]] and pick.taken == 2


def test_while_draining_nothing_waits_for_company():
    scheduler = Scheduler(max_batch=8, batch_window=WINDOW)
    pending = queue(1, 1)
    assert scheduler.pick(pending, 100.0, draining=True).batch == list(pending)


def test_the_last_batchs_callers_are_waited_for_until_they_are_all_back():
    scheduler = Scheduler(max_batch=16, batch_window=WINDOW)
    # Three requests ran from t=10 to t=12, when five had arrived in all: the next batch waits
    # for three more (numbers 6, 7 and 8), at most a tenth of those 2 s after the batch ended.
    scheduler.ran(served=3, arrivals=5, started=10.0, ended=12.0)
    until = 12.0 + REGATHER_SHARE * 2.0
    two_back = queue(1, 1, start=12.001, first=6)
    assert scheduler.pick(two_back, 12.001 + WINDOW).wait_until == until
    assert scheduler.pick(two_back, until).batch == list(two_back)  # the third never came back
    all_back = queue(1, 1, 1, start=12.001, first=6)
    assert scheduler.pick(all_back, 12.003).batch == list(all_back)  # no window once all are back


def test_a_lone_request_after_a_lone_batch_goes_at_once():
    # A verse's line steps: each comes back alone, and used to wait out the window every time.
    scheduler = Scheduler(max_batch=16, batch_window=WINDOW)
    scheduler.ran(served=1, arrivals=1, started=10.0, ended=10.1)
    pick = scheduler.pick(queue(1, start=10.1, first=2), 10.1)
    assert pick.wait_until is None and pick.taken == 1


def test_without_a_batch_before_only_the_window_counts():
    scheduler = Scheduler(max_batch=16, batch_window=WINDOW)
    pending = queue(1, first=1)
    assert scheduler.pick(pending, 100.0).wait_until == 100.0 + WINDOW
