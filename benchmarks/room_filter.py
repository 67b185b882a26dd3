"""Lyrics fit for the room, measured: the word list on (a channel for everyone) and off (an
age-restricted channel that allows explicit lyrics), back to back on the same prompts and seeds.

For each prompt a verse (or `--form song`) is written twice, one at a time as a listener gets
it, with the filter on and off in turn (which goes first alternates, so a machine that slows
down weighs on both alike). Prints, for each: the share of posted lines (the user's own first
line left out) holding a listed word, the share holding a slur, seconds per song, worker
requests per song, the candidate lines the filter refused, and the share of line steps that
had to be drawn again because it refused a candidate.

    python benchmarks/room_filter.py --model RUN_FOLDER [--corpus DIR] [--songs 12]
                                     [--form verse|song] [--candidates 3]

`--corpus` (a folder written by `python -m training corpus`) gives the prompts: the first lines of
its validation songs that hold no listed word (a prompt that does is refused before writing);
without it, a few first lines of our own. Measure on a catalogue that is explicit (rap): on a
clean one the filter has nothing to do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bot.service.words import SLUR, words  # noqa: E402
from model.serving import backends  # noqa: E402
from model.serving.worker import Worker  # noqa: E402
from model.writing.composer import Composer, Result  # noqa: E402
from model.writing.request import Request  # noqa: E402

OUR_PROMPTS = ("Late night on the corner with the city lights", "We came up from the bottom",
               "Rain on the window and the rent is due", "Every block got a story to tell",
               "Cold wind blowing through the project halls", "My pen is the only thing I own")


def prompts(corpus: Path | None, count: int) -> list[str]:
    """Return `count` first lines holding no listed word (cycled when there are fewer)."""
    found: list[str] = []
    if corpus is not None:
        from training.data.dataset import load_corpus

        for song in load_corpus(corpus).val:
            first = next((line for line in song["lyrics"].split("\n")
                          if line and not line.startswith("[")), "")
            if first and words().judge(first) is None:
                found.append(first)
    found = found or list(OUR_PROMPTS)
    return [found[i % len(found)] for i in range(count)]


async def write_all(folder: Path, lines: list[str], form: str, candidates: int,
                    ) -> dict[bool, list[tuple[Result, float]]]:
    """Write each prompt with the filter on and off; return each mode's results and times."""
    served = backends.load("transformers", folder, "bench")
    worker = Worker(lambda: served, batch_window_ms=1)
    worker.start()
    refuse = words().refusal(explicit_ok=False)
    done: dict[bool, list[tuple[Result, float]]] = {True: [], False: []}
    try:
        await worker.ready()
        composer = Composer(worker, candidates=candidates)
        for i, line in enumerate(lines):
            for on in ((True, False) if i % 2 == 0 else (False, True)):
                torch.manual_seed(1000 + i)  # the same draws for both, until the filter acts
                started = time.perf_counter()
                (result,) = await composer.write(Request(line, form=form,
                                                         refuse=refuse if on else None))
                done[on].append((result, time.perf_counter() - started))
    finally:
        await worker.close()
    return done


def posted(result: Result, prompt: str) -> list[str]:
    """Return the lines a song adds to the user's own (no section headers, no blank lines)."""
    lines = [line for line in result.text.split("\n") if line and not line.startswith("[")]
    return lines[1:] if lines and lines[0] == prompt else lines


def report(done: dict[bool, list[tuple[Result, float]]], lines: list[str]) -> None:
    print("| filter | songs | posted lines | with a listed word | with a slur | s/song | "
          "requests/song | refused candidates | steps drawn again |")
    print("|---|---|---|---|---|---|---|---|---|")
    for on in (True, False):
        runs = done[on]
        kept = [line for (result, _), prompt in zip(runs, lines, strict=True)
                for line in posted(result, prompt)]
        judged = [words().judge(line) for line in kept]
        listed = sum(1 for j in judged if j is not None)
        slurs = sum(1 for j in judged if j == SLUR)
        steps = sum(len(result.steps) for result, _ in runs)
        redrawn = sum(result.redrawn for result, _ in runs)
        print(f"| {'on' if on else 'off'} | {len(runs)} | {len(kept)} | "
              f"{listed} ({listed / max(1, len(kept)):.1%}) | {slurs} | "
              f"{statistics.mean(t for _, t in runs):.2f} | "
              f"{statistics.mean(r.attempts for r, _ in runs):.1f} | "
              f"{sum(r.filtered for r, _ in runs)} | "
              f"{redrawn}/{steps} ({redrawn / max(1, steps):.1%}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a run folder")
    parser.add_argument("--corpus", type=Path, help="corpus folder: its validation openings")
    parser.add_argument("--songs", type=int, default=12, help="prompts (each written twice)")
    parser.add_argument("--form", choices=("verse", "song"), default="verse")
    parser.add_argument("--candidates", type=int, default=3, help="candidates a line (k)")
    args = parser.parse_args()
    lines = prompts(args.corpus, args.songs)
    print(f"# {args.model.name}, {args.songs} {args.form}s a mode, k={args.candidates}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    report(asyncio.run(write_all(args.model, lines, args.form, args.candidates)), lines)


if __name__ == "__main__":
    main()
