"""Generation speed: the worker against how most bots serve, measured side by side in one run.

Uses the real GPT-2 124M architecture with random weights (the same compute as `gpt2`; no
weights can be downloaded here) and forces 64 new tokens so that every variant does the same work.
Prints one line per figure: `name: value (target)`.

    python benchmarks/generation.py [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import pipeline  # noqa: E402

from benchmarks.models import build_gpt2_124m  # noqa: E402
from model.backend import Request  # noqa: E402
from model.worker import Worker, load_hf  # noqa: E402

NEW_TOKENS = 64
PROMPTS = ["We lit paper lanterns on the fourth of July", "Gravel on the back road",
           "I leave the porchlight on for you", "Ticket in my pocket, suitcase by the door"]


def fixed(prompt: str) -> Request:
    return Request(prompt, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)


async def through_worker(worker: Worker, prompts: list[str]) -> tuple[float, list[float]]:
    """Send all prompts at once; return the wall time and the event loop's lateness samples."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:  # a coroutine that wants to run every 10 ms
        expected = time.perf_counter()
        while not done.is_set():
            expected += 0.010
            await asyncio.sleep(max(0.0, expected - time.perf_counter()))
            lags.append(max(0.0, time.perf_counter() - expected) * 1000)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(worker.submit(fixed(p)) for p in prompts))
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    return elapsed, lags


def sequential_pipeline(folder: Path, prompts: list[str]) -> float:
    """The way the seed (and most bots) serve: one pipeline call per request, in turn."""
    generate = pipeline("text-generation", model=str(folder), device=-1)
    generate(prompts[0], max_new_tokens=4, do_sample=True)  # warm up
    started = time.perf_counter()
    for prompt in prompts:
        generate(prompt, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=True,
                 top_p=0.95, top_k=0, temperature=0.9, repetition_penalty=1.15)
    return time.perf_counter() - started


def bare_generate(folder: Path, prompt: str, repeats: int) -> float:
    """One `model.generate` call with the same sampling settings; median seconds."""
    served = load_hf(folder)
    backend = served.backend
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        backend.generate_raw([fixed(prompt)])
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first call warms up


async def worker_single(worker: Worker, prompt: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await worker.submit(fixed(prompt))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main(concurrency: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_gpt2_124m(Path(tmp))
        device = "cuda" if torch.cuda.is_available() else f"cpu x{torch.get_num_threads()}"
        print(f"# GPT-2 124M (random weights), {NEW_TOKENS} new tokens, {device}")
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(concurrency)]

        # max_batch = concurrency: every request of the burst can share one batch.
        worker = Worker(lambda: load_hf(folder), max_batch=concurrency, batch_window_ms=15,
                        queue_size=max(64, concurrency))
        worker.start()
        await worker.ready()
        await worker.submit(fixed("warm up"))
        worker_s, lags = await through_worker(worker, prompts)
        single_s = await worker_single(worker, PROMPTS[0], repeats)
        await worker.close()

        bare_s = bare_generate(folder, PROMPTS[0], repeats)
        pipeline_s = sequential_pipeline(folder, prompts)

    lag_p99 = statistics.quantiles(lags, n=100)[98] if len(lags) >= 2 else 0.0
    print(f"# worker {worker_s:.2f}s for {concurrency}; pipeline one by one {pipeline_s:.2f}s; "
          f"single: worker {single_s:.3f}s, bare generate {bare_s:.3f}s")
    print(f"concurrent{concurrency}_speedup: {pipeline_s / worker_s:.2f}x (target >= 4x)")
    print(f"single_overhead: {single_s / bare_s:.3f}x (target <= 1.1x)")
    print(f"loop_lag_p99_ms: {lag_p99:.1f} (target <= 50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each single request")
    args = parser.parse_args()
    asyncio.run(main(args.concurrency, args.repeats))
