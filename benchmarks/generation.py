"""Generation speed: our engine on each backend against how most bots serve, side by side.

Builds the real GPT-2 124M architecture with random weights (the same compute as `gpt2`; no
weights can be downloaded here), or takes a local save_pretrained folder with `--model`, and
forces 64 new tokens so every variant does the same work. Prints `name: value (target)` lines.

    python benchmarks/generation.py [--backend transformers|ctranslate2] [--model DIR]
                                    [--concurrency 16] [--baseline-sample 8]

Figures (transformers): concurrent speedup over the sequential `pipeline()`, single-request
overhead over a bare `generate`, event-loop lag. Figures (ctranslate2): concurrent speedup at N
and 2N, batch-1 fp32 decode time over the memory-bandwidth floor, int8's NLL increase over fp32
(meaningful only with a pretrained `--model`), peak RSS of a serving process per backend, and
the resident memory each extra artist adds (its own worker and int8 model, as the bot serves
several artists; `--artists-only` measures just that), and in song mode the time to the first
written line against the whole song (what a streamed reply saves; `--song-only` for just that).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.models import build_gpt2_124m, fixture_lyrics  # noqa: E402
from model.serving import backends  # noqa: E402
from model.serving.protocol import Backend, GenRequest, Sampling, context_of  # noqa: E402
from model.serving.worker import Worker  # noqa: E402

NEW_TOKENS = 64
PROMPTS = ["We lit paper lanterns on the fourth of July", "Gravel on the back road",
           "I leave the porchlight on for you", "Ticket in my pocket, suitcase by the door"]


def fixed(prompt: str, tokens: int = NEW_TOKENS) -> GenRequest:
    return GenRequest(prompt, max_new_tokens=tokens, min_new_tokens=tokens)


def prompts(count: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)] for i in range(count)]


async def burst(worker: Worker, count: int) -> tuple[float, list[float]]:
    """Send `count` requests at once; return the wall time and the event loop's lateness."""
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
    await asyncio.gather(*(worker.submit(fixed(p)) for p in prompts(count)))
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    return elapsed, lags


async def through_worker(backend: str, folder: Path, sizes: list[int], repeats: int,
                         compute_type: str | None) -> dict[str, float]:
    """Time bursts of each size, and single requests, through the worker on `backend`."""
    options = [backends.CTranslate2Options(compute_type=compute_type)]
    worker = Worker(lambda: backends.load(backend, folder, "bench", options),
                    max_batch=max(sizes), batch_window_ms=15, queue_size=max(64, *sizes))
    worker.start()
    await worker.ready()
    await worker.submit(fixed("warm up", 4))
    figures: dict[str, float] = {}
    for size in sizes:
        await burst(worker, size)  # warm: the first batch of a size allocates its buffers
        figures[f"burst{size}"], lags = await burst(worker, size)
        figures[f"lag{size}_p99"] = statistics.quantiles(lags, n=100)[98] if len(lags) > 1 else 0
    singles = []
    for _ in range(repeats):
        started = time.perf_counter()
        await worker.submit(fixed(PROMPTS[0]))
        singles.append(time.perf_counter() - started)
    figures["single"] = statistics.median(singles)
    await worker.close()
    return figures


def sequential_pipeline(folder: Path, count: int, sample: int | None) -> tuple[float, str]:
    """The way the seed (and most bots) serve: one pipeline call per request, in turn."""
    from transformers import pipeline

    generate = pipeline("text-generation", model=str(folder))
    generate(PROMPTS[0], max_new_tokens=4, do_sample=True)  # warm up
    timed = min(count, sample or count)
    ours = Sampling()  # the same sampling as the engine's, so both do the same work
    started = time.perf_counter()
    for prompt in prompts(timed):
        generate(prompt, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=True,
                 top_p=ours.top_p, top_k=ours.top_k, temperature=ours.temperature,
                 repetition_penalty=ours.repetition_penalty)
    elapsed = time.perf_counter() - started
    note = f" (timed {timed} of {count}, scaled)" if timed < count else ""
    return elapsed * count / timed, note


def bare_generate(folder: Path, repeats: int) -> float:
    """One backend call for one request, no worker around it; median seconds."""
    backend = backends.load("transformers", folder, "bench").backend
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        backend.generate([fixed(PROMPTS[0])])
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first call warms up


def read_bandwidth(threads: int) -> float:
    """Measure memory read bandwidth in bytes/s: sum a 1 GiB array, one slice per thread."""
    import numpy as np

    data = np.ones(256 * 1024 * 1024, dtype=np.float32)
    parts = np.array_split(data, threads)
    best = 0.0
    for _ in range(3):
        workers = [threading.Thread(target=np.sum, args=(p,)) for p in parts]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, data.nbytes / (time.perf_counter() - started))
    return best


def seconds_per_token(backend: Backend, tokens: int = NEW_TOKENS) -> float:
    """Seconds per generated token at batch 1, the prompt's work and the call's fixed cost taken
    out: a call of `tokens` + 8 new tokens less one of 8, best of 3 each, after a warm-up."""
    backend.generate([fixed(PROMPTS[0], 8)])

    def timed(count: int) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            backend.generate([fixed(PROMPTS[0], count)])
            runs.append(time.perf_counter() - started)
        return min(runs)

    return (timed(tokens + 8) - timed(8)) / tokens


def decode_per_token(folder: Path) -> float:
    """Seconds per generated token at batch 1 on CTranslate2 in fp32, prompt work excluded."""
    return seconds_per_token(backends.load("ctranslate2", folder, "bench",
                                           [backends.CTranslate2Options(compute_type="float32")]
                                           ).backend)


def mean_nll(folder: Path, compute_type: str) -> float:
    """Mean negative log-likelihood per token of the fixture lyrics under the conversion."""
    import ctranslate2

    from model.serving.tokens import load_folder_tokenizer

    codec, spec = load_folder_tokenizer(folder)
    context = context_of(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    generator = ctranslate2.Generator(str(folder / "ct2"), compute_type=compute_type)
    tokens = []
    for lyrics in fixture_lyrics():
        ids = [*spec.prefix_ids, *codec.encode(lyrics, add_special_tokens=False).ids]
        ids = ids[:min(512, context)]
        tokens.append([codec.id_to_token(i) for i in ids])
    scored = generator.score_batch(tokens)
    logprobs = [lp for result in scored for lp in result.log_probs]
    return -sum(logprobs) / len(logprobs)


def serving(backend: str, folder: Path, sizes: list[int], repeats: int,
            compute_type: str | None) -> dict[str, float]:
    """Measure the engine on `backend` in a fresh process, as the bot serves: on CTranslate2 one
    without torch (two OpenMP runtimes in one process cost CTranslate2 about a third)."""
    done = subprocess.run([sys.executable, __file__, "--child", backend, "--model", str(folder),
                           "--sizes", ",".join(map(str, sizes)), "--repeats", str(repeats),
                           *(["--compute-type", compute_type] if compute_type else [])],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def song_times(folder: Path, songs: int, compute_type: str | None) -> list[list[float]]:
    """Write `songs` songs one after another through the worker and composer, as the bot does;
    return for each the seconds to its first written line (the user's own line is shown at
    once and does not count) and to the whole song."""
    from model.writing.composer import Composer, LineEvent
    from model.writing.request import Request

    options = [backends.CTranslate2Options(compute_type=compute_type or "int8")]
    worker = Worker(lambda: backends.load("ctranslate2", folder, "gpt2-124m", options))
    worker.start()
    await worker.ready()
    times = []
    try:
        for prompt in prompts(songs):
            start = time.perf_counter()
            writing = Composer(worker).start(Request(prompt, form="song"))
            first = None
            async for event in writing.events():
                if first is None and isinstance(event, LineEvent) and event.text != prompt:
                    first = time.perf_counter() - start
            await writing
            whole = time.perf_counter() - start
            times.append([first if first is not None else whole, whole])
    finally:
        await worker.close()
    return times


def child(backend: str, folder: Path, sizes: list[int], repeats: int,
          compute_type: str | None) -> None:
    if backend == "song":  # time to the first line and to the whole song, on ctranslate2
        print(json.dumps({"songs": asyncio.run(song_times(folder, repeats, compute_type))}))
        return
    if backend == "artists":  # several artists' folders, comma-separated
        folders = [Path(f) for f in str(folder).split(",")]
        print(json.dumps({"resident_mb": asyncio.run(artists_resident(folders, compute_type))}))
        return
    figures = asyncio.run(through_worker(backend, folder, sizes, repeats, compute_type))
    if backend == "ctranslate2" and not compute_type:
        figures["decode_s"] = decode_per_token(folder)
    # VmHWM, not ru_maxrss: the latter can carry the parent's peak across fork and exec.
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    print(json.dumps({**figures, "peak_rss_mb": peak_kb / 1024, "torch": "torch" in sys.modules}))


def resident_mb() -> tuple[float, float]:
    """Return this process's resident memory now, in MiB: all of it (VmRSS), and the part
    that is its own (RssAnon; the rest is file pages the kernel can drop and share)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines() if ":" in line)
    return tuple(int(status[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon"))


async def artists_resident(folders: list[Path],
                           compute_type: str | None) -> list[tuple[float, float]]:
    """Serve one artist per folder as the bot does (a worker and a model each, loaded one after
    another, each answering a song); return the resident memory after each one."""
    options = [backends.CTranslate2Options(compute_type=compute_type)]
    workers, resident = [], []
    for number, folder in enumerate(folders):
        worker = Worker(lambda f=folder, n=number: backends.load("ctranslate2", f, f"artist{n}",
                                                                 options), max_batch=4)
        worker.start()
        await worker.ready()
        await worker.submit(fixed(PROMPTS[0], 16))
        workers.append(worker)
        resident.append(resident_mb())
    for worker in workers:
        await worker.close()
    return resident


def per_artist(folder: Path, into: Path, count: int,
               compute_type: str | None) -> list[list[float]]:
    """Give `count` artists a run folder each, converted as `publish` converts (float16 on
    disk), and measure their resident memory in a fresh torch-free process."""
    from training.release.convert import convert_folder

    folders = []
    for number in range(count):
        copy = into / f"artist{number}"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("ct2"))
        convert_folder(copy)
        folders.append(copy)
    done = subprocess.run([sys.executable, __file__, "--child", "artists", "--model",
                           ",".join(map(str, folders)), "--sizes", "0",
                           *(["--compute-type", compute_type] if compute_type else [])],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["resident_mb"]


def print_per_artist(folder: Path, into: Path, count: int, compute_type: str | None) -> None:
    resident = per_artist(folder, into, count, compute_type)
    kind = compute_type or "int8 on CPU"
    print(f"# resident MiB (all, own) with 1..{count} artists on ctranslate2 {kind}: "
          + ", ".join(f"{rss:.0f}/{anon:.0f}" for rss, anon in resident))
    stored = (into / "artist0" / "ct2" / "model.bin").stat().st_size / 2**20
    for index, name in ((0, "rss"), (1, "anon")):
        steps = [b[index] - a[index] for a, b in itertools.pairwise(resident)]
        print(f"{name}_per_extra_artist_mb[ctranslate2]: {statistics.mean(steps):.0f} (report; "
              f"weights {stored:.0f} MiB on disk in float16)")


def print_song_times(folder: Path, songs: int, compute_type: str | None) -> None:
    """Print the time to the first line and to the whole song in song mode (a fresh process
    without torch, as the bot serves on CTranslate2)."""
    done = subprocess.run([sys.executable, __file__, "--child", "song", "--model", str(folder),
                           "--sizes", "1", "--repeats", str(songs),
                           *(["--compute-type", compute_type] if compute_type else [])],
                          capture_output=True, text=True, check=True)
    times = json.loads(done.stdout.strip().splitlines()[-1])["songs"]
    first = statistics.median(t[0] for t in times)
    whole = statistics.median(t[1] for t in times)
    print(f"# song mode on ctranslate2 {compute_type or 'int8'}, median of {len(times)} songs "
          f"written one at a time: {', '.join(f'{a:.2f}/{b:.2f}s' for a, b in times)}")
    print(f"song_first_line_s: {first:.2f} (report; what a streamed reply waits for)")
    print(f"song_whole_s: {whole:.2f} (report; what an unstreamed reply waits for)")
    print(f"song_first_line_share: {first / whole:.2f} (report)")


def convert_copy(source: Path, into: Path) -> Path:
    """Copy a model folder and convert it in float32 (so int8 and fp32 both load from it)."""
    from training.release.convert import convert_folder

    folder = into / "converted"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("ct2"))
    convert_folder(folder, quantization="float32")
    return folder


def main(args: argparse.Namespace) -> None:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or build_gpt2_124m(Path(tmp) / "gpt2-124m")
        device = "cuda" if torch.cuda.is_available() else f"cpu x{os.cpu_count()}"
        name = args.model.name if args.model else "GPT-2 124M (random weights)"
        print(f"# {name}, {NEW_TOKENS} new tokens, {device}, backend {args.backend}")
        n = args.concurrency
        if args.artists_only:
            print_per_artist(convert_copy(folder, Path(tmp)), Path(tmp), args.artists,
                             args.compute_type)
            return
        if args.song_only:
            print_song_times(convert_copy(folder, Path(tmp)), args.songs, args.compute_type)
            return
        if args.backend == "ctranslate2":
            folder = convert_copy(folder, Path(tmp))
            figures = serving("ctranslate2", folder, [n, 2 * n], args.repeats, args.compute_type)
        else:
            figures = serving("transformers", folder, [n], args.repeats, None)
        pipeline_s, note = sequential_pipeline(folder, n, args.baseline_sample)
        print(f"# worker {figures[f'burst{n}']:.2f}s for {n}; pipeline one by one "
              f"{pipeline_s:.2f}s{note}; worker single {figures['single']:.3f}s")
        if args.backend == "ctranslate2":
            target = ">= 10x" if device.startswith("cpu") else "report"
            print(f"concurrent{n}_speedup: {pipeline_s / figures[f'burst{n}']:.2f}x "
                  f"(target {target})")
            wide = pipeline_s * 2 / figures[f"burst{2 * n}"]
            print(f"concurrent{2 * n}_speedup: {wide:.2f}x (report)")
            if "decode_s" in figures and device.startswith("cpu"):
                weights = (folder / "ct2" / "model.bin").stat().st_size
                bandwidth = max(read_bandwidth(1), read_bandwidth(os.cpu_count() or 1))
                floor = weights / bandwidth
                print(f"# batch-1 fp32: {figures['decode_s'] * 1000:.1f} ms/token; floor "
                      f"{floor * 1000:.1f} ms ({weights / 1e6:.0f} MB at "
                      f"{bandwidth / 1e9:.1f} GB/s)")
                print(f"decode_vs_floor: {figures['decode_s'] / floor:.2f} (target <= 1.25)")
            fp32, int8 = mean_nll(folder, "float32"), mean_nll(folder, "int8")
            meaning = "" if args.model else "; random weights: only --model DIR means anything"
            print(f"# mean NLL fp32 {fp32:.4f}, int8 {int8:.4f}{meaning}")
            print(f"int8_nll_increase_pct: {(int8 - fp32) / fp32 * 100:.2f} (target <= 3)")
            other = serving("transformers", folder, [n], 1, None)
            print(f"peak_rss_mb[transformers]: {other['peak_rss_mb']:.0f} (report)")
            print(f"peak_rss_mb[ctranslate2]: {figures['peak_rss_mb']:.0f} (report; torch "
                  f"{'loaded' if figures['torch'] else 'never imported'})")
            print_per_artist(folder, Path(tmp), args.artists, args.compute_type)
            print_song_times(folder, args.songs, args.compute_type)
        else:
            bare_s = bare_generate(folder, args.repeats)
            print(f"concurrent{n}_speedup: {pipeline_s / figures[f'burst{n}']:.2f}x "
                  f"(target >= 4x)")
            print(f"single_overhead: {figures['single'] / bare_s:.3f}x (target <= 1.1x)")
        print(f"loop_lag_p99_ms: {figures[f'lag{n}_p99']:.1f} (target <= 50)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("transformers", "ctranslate2"),
                        default="transformers")
    parser.add_argument("--model", type=Path, help="a local save_pretrained folder")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each single request")
    parser.add_argument("--compute-type", help="CTranslate2 compute type (default: int8 on CPU)")
    parser.add_argument("--baseline-sample", type=int,
                        help="time only this many sequential requests and scale (GPU runs)")
    parser.add_argument("--artists", type=int, default=3,
                        help="artists served side by side for the memory figure (default 3)")
    parser.add_argument("--songs", type=int, default=3,
                        help="songs written for the time to first line (default 3)")
    parser.add_argument("--song-only", action="store_true",
                        help="measure only the time to the first line and the whole song")
    parser.add_argument("--artists-only", action="store_true",
                        help="measure only the memory each extra artist adds (ctranslate2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, [int(x) for x in args.sizes.split(",")], args.repeats,
              args.compute_type)
    else:
        main(args)
