"""Learning from votes, measured: simulated listeners of known taste vote, then the rule's share
before and after, for the ranker and for KTO.

A tiny GPT-2 is fine-tuned on the fixture lyrics (or `--run` names a run folder), writes 3
candidates for each of `--prompts` first lines, and shows the best by the default ranking. Three
listeners vote on each shown song by the rule "lines about the artist's length" (👍 when its
width distance is at most the median shown song's), each disagreeing with it one time in ten.
The sets are split in two: the first `--fit-share` are voted and learnt from, the rest held out.

- ranker: the share of held-out candidate sets whose pick satisfies the rule, picked with the
  default weights, then with weights fitted from the votes (and the best any pick could do);
- KTO: the share of held-out (👍, 👎) song pairs whose 👍 song the model finds more likely,
  before and after KTO on the voted songs (the publish gate's measure);
- `--votes-curve`: the fitted weights' held-out pair accuracy against the number of votes, the
  measurement behind FEEDBACK_MIN_VOTES (the first count within 0.01 of the largest's).

    python benchmarks/feedback.py [--prompts 240] [--run RUN] [--votes-curve]
                                  [--kto-learning-rate 1e-3]

The end-to-end loop through the bot's web API (votes from the page, its exporter) comes later.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.listeners import (  # noqa: E402
    DEFAULT_WEIGHTS,
    Written,
    rule_share,
    shown,
    vote,
    write_candidates,
)
from benchmarks.models import build_gpt2  # noqa: E402
from model.lyrics.style import figures, lyric_lines  # noqa: E402
from model.serving.hf import TransformersBackend  # noqa: E402
from model.writing.novelty import CopyIndex  # noqa: E402
from model.writing.ranking import score  # noqa: E402
from training.data.corpus import build_corpus, write_corpus  # noqa: E402
from training.data.dataset import load_corpus  # noqa: E402
from training.data.lyric_files import read_export  # noqa: E402
from training.feedback import kto, ranker  # noqa: E402
from training.feedback.votes import Vote, parse_vote  # noqa: E402
from training.progress import Progress  # noqa: E402
from training.tuning.finetune import TrainOptions, read_options, start_run, train  # noqa: E402

CURVE = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def tiny_run(folder: Path, steps: int) -> Path:
    """Fine-tune a tiny GPT-2 on the fixture lyrics for `steps` steps; return the run folder."""
    base = build_gpt2(folder / "base", n_layer=2, n_embd=64, n_head=2, n_positions=256,
                      vocab_size=640, bos_token_id=0, eos_token_id=0)
    corpus = folder / "corpus"
    write_corpus(build_corpus(read_export(ROOT / "examples" / "Lyrics_JuniperVale.json")),
                 corpus, "Juniper Vale", raw_count=12)
    run = folder / "run"
    start_run(run, corpus, TrainOptions(base_model=str(base), block_size=64, batch_size=4,
                                        learning_rate=2e-3, max_steps=steps, patience=1000,
                                        evals_per_epoch=1))
    train(run, Progress(enabled=False))
    return run


def votes_of(rows: list[dict]) -> list[Vote]:
    """Check the rows as training does."""
    return [parse_vote(row) for row in rows]


def curve(pool: list[dict[str, float]], test: list[dict[str, float]], rule, seeds: int,
          disagree: float) -> list[tuple[int, float]]:
    """Held-out pair accuracy of weights fitted from N noisy votes, for each N in CURVE."""
    def noisy(features: dict[str, float], pick: random.Random) -> Vote | None:
        liked = rule(features)
        up = sum((pick.random() >= disagree) == liked for _ in range(3))
        return Vote(0, "x", None, "p", "c", "verse", up > 1, up, 3 - up, features)

    held_pick = random.Random(10_000)
    held = [noisy(f, held_pick) for f in test]
    labels = [v.label for v in held]
    out = []
    for n in CURVE:
        scores = []
        for seed in range(seeds):
            pick = random.Random(seed)
            votes = [noisy(pick.choice(pool), pick) for _ in range(n)]
            try:
                fitted = ranker.fit(votes, min_votes=1)
            except ranker.TooFewVotes:
                continue
            scores.append(ranker.pair_accuracy(
                [score(v.features, fitted.ranking()) for v in held], labels))
        out.append((n, statistics.fmean(scores)))
    return out


def main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    try:
        started = time.perf_counter()
        run = Path(args.run) if args.run else tiny_run(scratch, args.train_steps)
        corpus = load_corpus(run / "data")
        songs = corpus.train + corpus.val
        artist = figures([s["lyrics"] for s in songs])
        lines = [line for s in songs for line in lyric_lines(s["lyrics"])]
        prompts = [lines[i % len(lines)] for i in range(args.prompts)]
        random.Random(0).shuffle(prompts)
        backend = TransformersBackend.load(run, model_id="bench")
        torch.manual_seed(0)
        written: list[Written] = write_candidates(
            backend, prompts, artist, CopyIndex([s["lyrics"] for s in corpus.train]),
            k=3, max_new_tokens=32, batch=32)
        del backend
        print(f"model: {run}; {len(written)} candidate sets of 3 written in "
              f"{time.perf_counter() - started:.0f} s")
        threshold = statistics.median(f["width"] for f in shown(written))

        def rule(f: dict[str, float]) -> bool:
            return f["width"] <= threshold

        cut = int(len(written) * args.fit_share)
        fit_sets, held_sets = written[:cut], written[cut:]
        fit_votes = votes_of(vote(fit_sets, rule, "Juniper Vale", seed=1, disagree=0.1))
        held_votes = votes_of(vote(held_sets, rule, "Juniper Vale", seed=2, disagree=0.1,
                                   first_id=len(fit_sets) + 1))
        print(f"rule: 👍 when width distance <= {threshold:.3f} (the median shown song's); "
              f"{len(fit_votes)} votes to learn from ({sum(v.label for v in fit_votes)} up), "
              f"{len(held_votes)} held out")

        fitted = ranker.fit(fit_votes, min_votes=1)
        best = sum(any(rule(f) for _, f in s.options) for s in held_sets) / len(held_sets)
        print("\nranker (held-out candidate sets: share whose pick satisfies the rule)")
        print(f"  default weights  {rule_share(held_sets, rule, DEFAULT_WEIGHTS):.3f}")
        print(f"  fitted weights   {rule_share(held_sets, rule, fitted.weights, fitted.bias):.3f}")
        print(f"  best possible    {best:.3f}")
        print("  weights: " + ", ".join(f"{f} {DEFAULT_WEIGHTS[f]:g} -> {w:.2f}"
                                        for f, w in fitted.weights.items()))

        tuned = scratch / "tuned"
        shutil.copytree(run, tuned, ignore=shutil.ignore_patterns("checkpoints"))
        options = replace(read_options(tuned), kto_learning_rate=args.kto_learning_rate,
                          kto_epochs=args.kto_epochs)
        result = kto.tune(tuned, fit_votes, held_votes, options, Progress(enabled=False))
        print("\nKTO (held-out voted pairs: share whose 👍 song is the more likely)")
        print(f"  before {result['share_before']:.3f}  after {result['share_after']:.3f}  "
              f"({result['steps']} steps at learning rate {args.kto_learning_rate:g}, "
              f"{result['seconds']:.0f} s)")

        if args.votes_curve:
            pool = [f for s in fit_sets for _, f in s.options]
            test = [f for s in held_sets for _, f in s.options]
            points = curve(pool, test, rule, args.seeds, 0.1)
            print(f"\nvotes -> held-out pair accuracy of the fitted weights "
                  f"(mean of {args.seeds} draws; {len(test)} held-out candidates)")
            for n, accuracy in points:
                print(f"  {n:5d}  {accuracy:.3f}")
            top = points[-1][1]
            enough = next(n for n, a in points if a >= top - 0.01)
            print(f"  plateau: {enough} votes (first within 0.01 of {CURVE[-1]} votes' {top:.3f})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder to write with (default: a tiny GPT-2 "
                        "fine-tuned here)")
    parser.add_argument("--train-steps", type=int, default=150,
                        help="fine-tune steps of the tiny model")
    parser.add_argument("--prompts", type=int, default=240, help="candidate sets to write")
    parser.add_argument("--fit-share", type=float, default=0.75,
                        help="share of the sets voted and learnt from")
    parser.add_argument("--kto-learning-rate", type=float, default=1e-3,
                        help="1e-3 for the tiny model; TRL's advice (1e-6) is for real ones")
    parser.add_argument("--kto-epochs", type=float, default=1.0)
    parser.add_argument("--votes-curve", action="store_true",
                        help="also measure accuracy against the number of votes")
    parser.add_argument("--seeds", type=int, default=30, help="draws per point of the curve")
    main(parser.parse_args())
