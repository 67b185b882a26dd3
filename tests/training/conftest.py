"""Training tests share trained runs (each trained once a session, on first use) and call the CLI
inside the test process where a subprocess would prove nothing more: importing torch and
transformers again costs seconds a call."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from transformers.utils import logging

from model.registry.runs import Registry, Run
from tests.conftest import TINY_TRAIN, artist_models
from training.__main__ import main

# `python -m training` quiets transformers through the environment before importing it; here it
# is imported already, so quiet it directly, as a fresh process would be.
logging.disable_progress_bar()
logging.set_verbosity_error()

NETWORK_KEYS = ("GENIUS_ACCESS_TOKEN", "GENIUS_BASE_URL", "SWIFTAI_ARTIST", "BASE_MODEL")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(home: Path, *argv: str, stdout: io.StringIO | None = None, **env: str) -> Result:
    """Run `python -m training ARGV` in this process with SWIFTAI_HOME=home (and `env`);
    `stdout` is where its standard output goes (default: a new StringIO)."""
    out, err = stdout or io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key in NETWORK_KEYS:
            patch.delenv(key, raising=False)
        for key, value in {"SWIFTAI_HOME": str(home), **env}.items():
            patch.setenv(key, value)
        home.mkdir(parents=True, exist_ok=True)
        patch.chdir(home)  # no stray .env is read
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as e:  # argparse refusing the command line
                code = int(e.code or 0)
    return Result(code, out.getvalue(), err.getvalue())


# name: (family, extra arguments of `train`). Tiny models, few steps: a run takes seconds.
RUNS = {
    "good": ("gpt2", ("--max-steps", "40")),
    "poor": ("gpt2", ("--max-steps", "2")),
    "llama": ("llama", ("--max-steps", "20")),
    "qwen2": ("qwen2", ("--max-steps", "20")),
    "lora": ("gpt2", ("--max-steps", "30", "--lora", "--learning-rate", "1e-2")),
}


@dataclass(frozen=True)
class Trained:
    run: Run
    output: Result  # what `train` printed, piped


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_family: Callable[[str], Path],
            example_corpus: Path) -> Callable[[str], Trained]:
    """Return the trained run of a name in RUNS, training it on first use."""
    home = tmp_path_factory.mktemp("trained")
    done: dict[str, Trained] = {}

    def get(name: str) -> Trained:
        if name not in done:
            family, extra = RUNS[name]
            before = {r.id for r in Registry(artist_models(home)).runs()}
            result = cli(home, "train", "--corpus", str(example_corpus), "--base-model",
                         str(tiny_family(family)), *TINY_TRAIN, *extra)
            assert result.returncode == 0, result.stderr
            run = next(r for r in Registry(artist_models(home)).runs() if r.id not in before)
            done[name] = Trained(run, result)
        return done[name]

    return get


def copy_runs(registry: Registry, trained: Callable[[str], Trained], *names: str) -> None:
    """Copy trained runs into `registry`, each under its name in RUNS."""
    for name in names:
        shutil.copytree(trained(name).run.path, registry.runs_dir / name)


@dataclass(frozen=True)
class Voted:
    path: Path  # the feedback file
    rows: list[dict]
    written: list  # benchmarks.listeners.Written: every candidate set, with features
    threshold: float  # the rule: 👍 when a song's width distance is at most this


@pytest.fixture(scope="session")
def voted(trained: Callable[[str], Trained], tmp_path_factory: pytest.TempPathFactory) -> Voted:
    """A feedback file from real generations of the tiny "good" run: 60 first lines, 3 candidates
    each, the best by the default ranking shown to 3 simulated listeners who each like a song
    whose lines are about the artist's length (width distance at most the shown songs' median)
    and disagree with that rule one time in ten."""
    import statistics

    import torch

    from benchmarks.listeners import shown, vote, write_candidates
    from model.lyrics.style import figures, lyric_lines
    from model.serving.hf import TransformersBackend
    from model.writing.novelty import CopyIndex
    from training.data.dataset import load_corpus

    run = trained("good").run
    corpus = load_corpus(run.path / "data")
    artist = figures([s["lyrics"] for s in corpus.train + corpus.val])
    prompts = [line for s in corpus.train for line in lyric_lines(s["lyrics"])][:60]
    backend = TransformersBackend.load(run.path, model_id=run.id)
    torch.manual_seed(0)
    written = write_candidates(backend, prompts, artist,
                               CopyIndex([s["lyrics"] for s in corpus.train]),
                               k=3, max_new_tokens=24, batch=60)
    threshold = statistics.median(f["width"] for f in shown(written))
    rows = vote(written, lambda f: f["width"] <= threshold, "Juniper Vale", seed=0,
                disagree=0.1)
    path = tmp_path_factory.mktemp("votes") / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return Voted(path, rows, written, threshold)
