"""The worker with a real thread and a real tiny GPT-2. No test sleeps to wait for a result."""

import asyncio

import pytest
import torch

from model.backend import Request
from model.errors import BadRequest, Busy, DeadlineExceeded, GenerationError, Stopped
from model.novelty import CopyIndex, cut_before
from model.worker import Served, Worker, load_hf


def make_worker(tiny_base, **options):
    options.setdefault("batch_window_ms", 200)  # wide: requests queued in one tick share a batch
    return Worker(lambda: load_hf(tiny_base, model_id="tiny-a"), **options)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submits_are_batched(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=16)
        worker.start()
        await worker.ready()
        results = await asyncio.gather(*(worker.submit(Request(f"line {i}", max_new_tokens=8))
                                         for i in range(6)))
        await worker.close()
        return worker, results

    worker, results = run(main())
    assert [r.batch_size for r in results] == [6] * 6
    assert worker.stats().recent_batch_sizes == [6]
    assert all(r.text.startswith(f"line {i}") for i, r in enumerate(results))
    assert all(r.model_id == "tiny-a" for r in results)


def test_batches_are_capped_at_max_batch(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=4)
        tickets = [worker.submit_nowait(Request("hi", max_new_tokens=4)) for _ in range(10)]
        worker.start()
        results = await asyncio.gather(*tickets)
        await worker.close()
        return worker, results

    worker, results = run(main())
    assert worker.stats().recent_batch_sizes == [4, 4, 2]
    assert sorted(r.batch_size for r in results) == [2, 2] + [4] * 8


def test_a_full_queue_answers_busy_at_once_and_reports_positions(tiny_base):
    async def main():
        worker = make_worker(tiny_base, queue_size=3)
        tickets = [worker.submit_nowait(Request("hi", max_new_tokens=4)) for _ in range(3)]
        with pytest.raises(Busy):
            worker.submit_nowait(Request("one too many"))
        positions = [t.position() for t in tickets]
        worker.start()
        results = await asyncio.gather(*tickets)
        after = [t.position() for t in tickets]
        await worker.close()
        return positions, results, after

    positions, results, after = run(main())
    assert positions == [1, 2, 3] and after == [0, 0, 0] and len(results) == 3


def test_expired_and_cancelled_requests_are_never_generated(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        expired = worker.submit_nowait(Request("late"), timeout=1e-9)
        cancelled = worker.submit_nowait(Request("gone"))
        kept = worker.submit_nowait(Request("kept", max_new_tokens=4))
        cancelled.cancel()
        worker.start()
        result = await kept
        with pytest.raises(DeadlineExceeded):
            await expired
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await worker.close()
        return worker, result

    worker, result = run(main())
    assert result.batch_size == 1 and worker.stats().recent_batch_sizes == [1]


def test_one_bad_request_does_not_hurt_the_others(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        outcomes = await asyncio.gather(
            worker.submit(Request("fine", max_new_tokens=6)),
            worker.submit(Request("word " * 300)),  # longer than the tiny model's context
            worker.submit(Request("broken", temperature=float("nan"), max_new_tokens=6)),
            worker.submit(Request("also fine", max_new_tokens=6)),
            return_exceptions=True)
        after = await worker.submit(Request("still alive", max_new_tokens=4))
        await worker.close()
        return outcomes, after

    (fine, too_long, broken, also_fine), after = run(main())
    assert fine.text.startswith("fine") and also_fine.text.startswith("also fine")
    assert isinstance(too_long, BadRequest) and "too long" in str(too_long)
    assert isinstance(broken, RuntimeError)
    assert after.text.startswith("still alive")


def test_input_the_tokenizer_refuses_fails_alone_and_the_thread_lives(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        bad, good = await asyncio.gather(
            worker.submit(Request("lone \ud800 surrogate", max_new_tokens=4)),
            worker.submit(Request("fine", max_new_tokens=4)), return_exceptions=True)
        after = await worker.submit(Request("still serving", max_new_tokens=4))
        await worker.close()
        return bad, good, after

    bad, good, after = run(main())
    assert isinstance(bad, TypeError) and good.text.startswith("fine")
    assert after.text.startswith("still serving")


def test_reload_swaps_models_without_a_failed_request(tiny_base):
    async def main():
        worker = make_worker(tiny_base, batch_window_ms=5, max_batch=2)
        worker.start()
        await worker.ready()
        requests = [worker.submit(Request(f"r{i}", max_new_tokens=6)) for i in range(8)]
        swap = worker.reload(lambda: load_hf(tiny_base, model_id="tiny-b"))
        outcomes = await asyncio.gather(swap, *requests)
        later = await worker.submit(Request("after", max_new_tokens=4))
        await worker.close()
        return outcomes, later

    (new_id, *results), later = run(main())
    assert new_id == "tiny-b" and later.model_id == "tiny-b"
    assert all(r.text for r in results)  # none failed while the new model loaded


def test_a_broken_reload_keeps_the_old_model_serving(tiny_base, tmp_path):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        with pytest.raises(OSError):
            await worker.reload(lambda: load_hf(tmp_path / "missing"))
        result = await worker.submit(Request("still here", max_new_tokens=4))
        await worker.close()
        return worker, result

    worker, result = run(main())
    assert result.model_id == "tiny-a" and worker.stats().model_id == "tiny-a"


def test_close_finishes_pending_requests_then_refuses_new_ones(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=2)
        worker.start()
        tickets = [worker.submit_nowait(Request(f"p{i}", max_new_tokens=4)) for i in range(5)]
        await worker.close()
        results = await asyncio.gather(*tickets)
        with pytest.raises(Stopped):
            worker.submit_nowait(Request("too late"))
        return results

    assert len(run(main())) == 5


def test_stop_without_drain_fails_pending_requests(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        tickets = [worker.submit_nowait(Request("never")) for _ in range(3)]
        worker.stop(drain=False)
        worker.start()
        outcomes = await asyncio.gather(*tickets, return_exceptions=True)
        await worker.close()
        return outcomes

    assert all(isinstance(o, Stopped) for o in run(main()))


def test_a_failed_first_load_is_reported_and_refuses_requests(tmp_path):
    async def main():
        worker = Worker(lambda: load_hf(tmp_path / "missing"))
        worker.start()
        with pytest.raises(OSError):
            await worker.ready()
        assert not worker.loaded
        with pytest.raises(GenerationError, match="the model failed to load"):
            worker.submit_nowait(Request("nobody would serve this"))

    run(main())


def _first_output(tiny_base, request):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        torch.manual_seed(11)
        result = await worker.submit(request)
        await worker.close()
        return result.text

    return run(main())


def test_novelty_guard_regenerates_a_planted_copy(tiny_base):
    request = Request("We lit paper lanterns", max_new_tokens=60)
    planted = _first_output(tiny_base, request)  # what the model writes with this seed

    async def main():
        worker = Worker(lambda: Served(load_hf(tiny_base).backend, CopyIndex([planted])),
                        batch_window_ms=1)
        worker.start()
        torch.manual_seed(11)  # the same seed: the first try writes the planted song again
        result = await worker.submit(request)
        await worker.close()
        return result

    result = run(main())
    assert result.attempts == 2 and result.copied_words < 8 and result.text != planted


def test_novelty_guard_trims_before_a_copy_when_out_of_tries(tiny_base):
    request = Request("We lit paper lanterns", max_new_tokens=60)
    planted = _first_output(tiny_base, request)
    index = CopyIndex([planted])

    async def main():
        worker = Worker(lambda: Served(load_hf(tiny_base).backend, index), batch_window_ms=1,
                        novelty_retries=0)
        worker.start()
        torch.manual_seed(11)
        result = await worker.submit(request)
        await worker.close()
        return result

    result = run(main())
    copy = index.longest(planted, after=len(request.prompt))
    assert copy.words >= 8
    assert result.text == cut_before(planted, copy.start, len(request.prompt))
    assert result.copied_words < 8 and len(result.text) < len(planted)
    assert result.text.startswith("We lit paper lanterns")


def test_stats_report_latency_and_model(tiny_base):
    async def main():
        worker = make_worker(tiny_base, batch_window_ms=1)
        worker.start()
        for i in range(3):
            await worker.submit(Request(f"s{i}", max_new_tokens=4))
        await worker.close()
        return worker.stats()

    stats = run(main())
    assert stats.served == 3 and stats.failed == 0 and stats.queue_depth == 0
    assert stats.model_id == "tiny-a" and 0 < stats.p50_ms <= stats.p95_ms


def test_closing_a_worker_that_never_started_fails_its_queue(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        ticket = worker.submit_nowait(Request("never served"))
        await worker.close()
        with pytest.raises(Stopped):
            await ticket

    run(main())
