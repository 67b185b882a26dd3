"""The scheduler with a real thread and a real tiny GPT-2. No test sleeps to wait for a result."""

import asyncio

import pytest

from model.errors import BadRequest, Busy, DeadlineExceeded, GenerationError, Stopped
from model.serving import backends
from model.serving.protocol import GenRequest
from model.serving.worker import Worker
from tests.conftest import ROOT


def loader(folder, model_id="tiny-a"):
    return lambda: backends.load("transformers", folder, model_id)


def make_worker(tiny_base, **options):
    options.setdefault("batch_window_ms", 200)  # wide: requests queued in one tick share a batch
    return Worker(loader(tiny_base), **options)


def ask(prompt, **options):
    options.setdefault("max_new_tokens", 4)
    return GenRequest(prompt, **options)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submits_are_batched(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=16)
        worker.start()
        await worker.ready()
        results = await asyncio.gather(*(worker.submit(ask(f"line {i}", max_new_tokens=8))
                                         for i in range(6)))
        await worker.close()
        return worker, results

    worker, results = run(main())
    assert [r.batch_size for r in results] == [6] * 6
    assert worker.stats().recent_batch_sizes == [6]
    assert all(len(r.completions) == 1 and r.completions[0].tokens > 0 for r in results)
    assert all(r.served.info.model_id == "tiny-a" for r in results)


def test_k_samples_of_one_prompt_come_back_together_and_count_as_rows(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=4)
        tickets = [worker.submit_nowait(ask("hi", k=3)), worker.submit_nowait(ask("yo", k=2))]
        worker.start()
        results = await asyncio.gather(*tickets)
        await worker.close()
        return worker, results

    worker, (three, two) = run(main())
    assert len(three.completions) == 3 and len(two.completions) == 2
    assert worker.stats().recent_batch_sizes == [3, 2]  # 3 + 2 rows do not fit a batch of 4
    assert all(c.mean_logprob is not None and c.mean_logprob < 0 for c in three.completions)


def test_batches_are_capped_at_max_batch(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=4)
        tickets = [worker.submit_nowait(ask("hi")) for _ in range(10)]
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
        tickets = [worker.submit_nowait(ask("hi")) for _ in range(3)]
        with pytest.raises(Busy):
            worker.submit_nowait(ask("one too many"))
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
        expired = worker.submit_nowait(ask("late"), timeout=1e-9)
        cancelled = worker.submit_nowait(ask("gone"))
        kept = worker.submit_nowait(ask("kept"))
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
            worker.submit(ask("fine")),
            worker.submit(ask("word " * 300)),  # longer than the tiny model's context
            worker.submit(ask("broken", temperature=float("nan"))),
            worker.submit(ask("also fine")),
            return_exceptions=True)
        after = await worker.submit(ask("still alive"))
        await worker.close()
        return outcomes, after

    (fine, too_long, broken, also_fine), after = run(main())
    assert fine.completions and also_fine.completions and after.completions
    assert isinstance(too_long, BadRequest) and "too long" in str(too_long)
    assert isinstance(broken, RuntimeError)  # torch refuses NaN probabilities: that row alone


def test_input_the_tokenizer_refuses_fails_alone_and_the_thread_lives(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        bad, good = await asyncio.gather(worker.submit(ask("lone \ud800 surrogate")),
                                         worker.submit(ask("fine")), return_exceptions=True)
        after = await worker.submit(ask("still serving"))
        await worker.close()
        return bad, good, after

    bad, good, after = run(main())
    assert isinstance(bad, TypeError) and good.completions and after.completions


def test_reload_swaps_models_without_a_failed_request(tiny_base):
    async def main():
        worker = make_worker(tiny_base, batch_window_ms=5, max_batch=2)
        worker.start()
        await worker.ready()
        requests = [worker.submit(ask(f"r{i}", max_new_tokens=6)) for i in range(8)]
        swap = worker.reload(loader(tiny_base, "tiny-b"))
        outcomes = await asyncio.gather(swap, *requests)
        later = await worker.submit(ask("after"))
        await worker.close()
        return outcomes, later

    (new_id, *results), later = run(main())
    assert new_id == "tiny-b" and later.served.info.model_id == "tiny-b"
    assert all(r.completions for r in results)  # none failed while the new model loaded


def test_a_broken_reload_keeps_the_old_model_serving(tiny_base, tmp_path):
    async def main():
        worker = make_worker(tiny_base)
        worker.start()
        with pytest.raises(Exception, match="not a model folder"):
            await worker.reload(loader(tmp_path / "missing"))
        result = await worker.submit(ask("still here"))
        await worker.close()
        return worker, result

    worker, result = run(main())
    assert result.served.info.model_id == "tiny-a" and worker.stats().model_id == "tiny-a"


def test_close_finishes_pending_requests_then_refuses_new_ones(tiny_base):
    async def main():
        worker = make_worker(tiny_base, max_batch=2)
        worker.start()
        tickets = [worker.submit_nowait(ask(f"p{i}")) for i in range(5)]
        await worker.close()
        results = await asyncio.gather(*tickets)
        with pytest.raises(Stopped):
            worker.submit_nowait(ask("too late"))
        return results

    assert len(run(main())) == 5


def test_stop_without_drain_fails_pending_requests(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        tickets = [worker.submit_nowait(ask("never")) for _ in range(3)]
        worker.stop(drain=False)
        worker.start()
        outcomes = await asyncio.gather(*tickets, return_exceptions=True)
        await worker.close()
        return outcomes

    assert all(isinstance(o, Stopped) for o in run(main()))


def test_a_failed_first_load_is_reported_and_refuses_requests(tmp_path):
    async def main():
        worker = Worker(loader(tmp_path / "missing"))
        worker.start()
        with pytest.raises(Exception, match="not a model folder"):
            await worker.ready()
        assert not worker.loaded
        with pytest.raises(GenerationError, match="the model failed to load"):
            worker.submit_nowait(ask("nobody would serve this"))

    run(main())


def test_stats_report_latency_and_model(tiny_base):
    async def main():
        worker = make_worker(tiny_base, batch_window_ms=1)
        worker.start()
        for i in range(3):
            await worker.submit(ask(f"s{i}"))
        await worker.close()
        return worker.stats()

    stats = run(main())
    assert stats.served == 3 and stats.failed == 0 and stats.queue_depth == 0
    assert stats.model_id == "tiny-a" and 0 < stats.p50_ms <= stats.p95_ms


def test_closing_a_worker_that_never_started_fails_its_queue(tiny_base):
    async def main():
        worker = make_worker(tiny_base)
        ticket = worker.submit_nowait(ask("never served"))
        await worker.close()
        with pytest.raises(Stopped):
            await ticket

    run(main())


def test_the_scheduler_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, model.serving.worker, model.writing.composer; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_closing_during_the_first_load_does_not_wait_for_it(tiny_base):
    import threading

    release = threading.Event()

    def slow_loader():
        release.wait(30)  # a big model still loading
        return backends.load("transformers", tiny_base, "late")

    async def main():
        worker = Worker(slow_loader)
        worker.start()
        ticket = worker.submit_nowait(ask("waiting for the load"))
        await asyncio.wait_for(worker.close(timeout=0.5), 5)  # bounded, loaded or not
        with pytest.raises(Stopped):
            await ticket
        release.set()

    run(main())


def test_callers_coming_back_from_a_batch_share_the_next_one(tiny_base):
    # Four callers, each taking its next step a little apart (0-3 ms) after its result, as
    # songs do between lines: the worker waits for the last batch's callers (a tenth of that
    # batch's time) instead of starting the next batch with whoever came back first.
    async def caller(worker, index):
        for step in range(3):
            await worker.submit(ask(f"caller {index} step {step}", max_new_tokens=64,
                                    min_new_tokens=64))
            await asyncio.sleep(index / 1000)

    async def main():
        worker = make_worker(tiny_base, max_batch=16, batch_window_ms=1)
        worker.start()
        await worker.ready()
        await asyncio.gather(*(caller(worker, i) for i in range(4)))
        await worker.close()
        return worker.stats().recent_batch_sizes

    assert run(main()) == [4, 4, 4]
