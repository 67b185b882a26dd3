"""A run whose evaluation fails is kept: trained, "not evaluated" with its reason, finished later
by `evaluate RUN`. The failure is real: the base model the run started from is moved away the
moment evaluation starts (as someone cleaning up a disk might), so evaluation cannot load it."""

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.registry.runs import Registry
from tests.conftest import EXAMPLE_EXPORT, TINY_TRAIN, artist_models
from tests.training.conftest import Result, cli

ARTIST = "Juniper Vale"
EVALUATION_STARTS = '"stage": "evaluate", "event": "start"'


class MovesTheBaseAway(io.StringIO):
    """Standard output that moves the base model's folder away when evaluation starts."""

    def __init__(self, base: Path, away: Path) -> None:
        super().__init__()
        self.base, self.away = base, away

    def write(self, text: str) -> int:
        if EVALUATION_STARTS in text and self.base.exists():
            self.base.rename(self.away)
        return super().write(text)


@dataclass(frozen=True)
class Unevaluated:
    home: Path
    base: Path  # where the run's manifest says its base model is; missing after `run`
    away: Path  # where the base model went
    run_id: str
    output: Result  # what `run --progress json` printed

    @property
    def env(self) -> dict[str, str]:
        return {"BASE_MODEL": str(self.base), "SWIFTAI_ARTIST": ARTIST}

    @property
    def registry(self) -> Registry:
        return Registry(artist_models(self.home, ARTIST))

    def cli(self, *argv: str) -> Result:
        return cli(self.home, *argv, **self.env)

    def bring_the_base_back(self) -> None:
        shutil.copytree(self.away, self.base)


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, tiny_family) -> Unevaluated:
    """`run --skip-fetch` whose evaluation fails, once for the module."""
    root = tmp_path_factory.mktemp("unevaluated")
    base, away, home = root / "base", root / "away", root / "home"
    shutil.copytree(tiny_family("gpt2"), base)
    env = {"BASE_MODEL": str(base), "SWIFTAI_ARTIST": ARTIST}
    assert cli(home, "import", str(EXAMPLE_EXPORT), **env).returncode == 0
    output = cli(home, "run", "--skip-fetch", "--max-steps", "4", *TINY_TRAIN, "--progress",
                 "json", stdout=MovesTheBaseAway(base, away), **env)
    [run] = Registry(artist_models(home, ARTIST)).runs()
    return Unevaluated(home, base, away, run.id, output)


@pytest.fixture
def unevaluated(trained_once, tmp_path) -> Unevaluated:
    """A copy of the module's home, its base model still away, for one test to change."""
    home = tmp_path / "copy"
    shutil.copytree(trained_once.home, home, symlinks=True)
    base = tmp_path / "base"
    path = Registry(artist_models(home, ARTIST)).run(trained_once.run_id).path / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "base_model": str(base)}))
    (path.parent / "run.json").write_text((path.parent / "run.json").read_text().replace(
        str(trained_once.base), str(base)))
    return Unevaluated(home, base, trained_once.away, trained_once.run_id, trained_once.output)


def test_run_stops_before_publishing_and_says_how_to_finish(trained_once):
    out = trained_once.output
    run = trained_once.run_id
    assert out.returncode == 1
    records = [json.loads(line) for line in out.stdout.splitlines()]
    starts = [r["stage"] for r in records if r.get("event") == "start"]
    assert starts == ["fetch", "corpus", "train", "evaluate"]  # no publish
    failed = next(r for r in records if r.get("event") == "failed")
    assert failed["stage"] == "evaluate" and failed["run"] == run
    assert failed["reason"].startswith(f"{trained_once.base} is not a model folder")
    error = records[-1]
    assert error["stage"] == "error"
    assert error["message"].startswith(f"run {run} is trained but not evaluated: "
                                       f"{failed['reason']} (traceback in ")
    assert error["message"].endswith(
        f"; finish it with `python -m training evaluate {run}`, then "
        f"`python -m training publish {run}`")
    assert "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {error['message']}"]
    assert trained_once.registry.current() is None


def test_the_trained_run_is_kept_not_evaluated_with_its_reason(unevaluated):
    run = unevaluated.registry.run(unevaluated.run_id)
    reason = next(json.loads(line)["reason"] for line in unevaluated.output.stdout.splitlines()
                  if '"failed"' in line)
    assert run.complete and not run.evaluated
    assert run.status.state == "unevaluated"
    assert run.status.describe() == f"not evaluated: {reason}"
    assert run.manifest["metrics"] is None and run.manifest["training"]["steps"] == 4
    assert (run.path / "model.safetensors").is_file() and not (run.path / "checkpoints").exists()
    assert "Traceback (most recent call last)" in (run.path / "evaluate.log").read_text()
    unevaluated.registry.check(run)  # whole weights: loadable, e.g. by the bot after --force
    assert unevaluated.cli("models").stdout == f"  {run.id}  not evaluated: {reason}\n"


def test_publish_refuses_a_run_that_is_not_evaluated_unless_forced(unevaluated):
    run = unevaluated.run_id
    refused = unevaluated.cli("publish", run)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith(f"error: run {run} is not evaluated: ")
    assert refused.stderr.endswith(f"; finish it with `python -m training evaluate {run}` "
                                   "first, or publish --force to publish it without its "
                                   "evaluation\n")
    assert unevaluated.registry.current() is None
    forced = unevaluated.cli("publish", run, "--force")
    assert forced.returncode == 0, forced.stderr
    assert unevaluated.registry.current().id == run


def test_prune_and_resume_leave_a_run_that_is_not_evaluated(unevaluated):
    run = unevaluated.run_id
    (unevaluated.registry.runs_dir / "zz-killed").mkdir()  # killed before it said anything
    pruned = unevaluated.cli("prune")
    assert pruned.stdout == "deleted zz-killed: abandoned\n"
    assert [r.id for r in unevaluated.registry.runs()] == [run]
    assert "no interrupted run to resume" in unevaluated.cli("train", "--resume").stderr
    named = unevaluated.cli("train", "--resume", run)
    assert named.returncode == 1
    assert named.stderr == (f"error: run {run} finished training; only its evaluation is "
                            f"missing: `python -m training evaluate {run}` finishes it\n")


def test_evaluate_refuses_a_run_that_was_never_trained(unevaluated):
    (unevaluated.registry.runs_dir / "zz-killed").mkdir()
    result = unevaluated.cli("evaluate", "zz-killed")
    assert result.returncode == 1
    assert result.stderr == ("error: run zz-killed is not trained yet (abandoned), so there is "
                             "nothing to evaluate; `python -m training train --resume zz-killed` "
                             "continues it\n")


def test_evaluate_finishes_the_run_and_publish_then_takes_it(unevaluated):
    run = unevaluated.run_id
    unevaluated.bring_the_base_back()
    finished = unevaluated.cli("evaluate", run)
    assert finished.returncode == 0, finished.stderr
    # One line on how it measured, not a dump of metrics.json (the example corpus keeps one
    # validation song: too few to tell).
    [said] = finished.stdout.splitlines()
    assert said.startswith(f"run {run}: validation perplexity ") and "(fine-tuned); song " \
        "targets " in said and said.endswith(f"can't tell: too few validation songs; report: "
                                            f"{unevaluated.registry.runs_dir / run}/report.md")
    evaluated = unevaluated.registry.run(run)
    assert evaluated.evaluated and evaluated.status.state == "complete"
    assert evaluated.manifest["training"]["steps"] == 4  # what training recorded is kept
    assert evaluated.metrics["perplexity"] > 0 and (evaluated.path / "report.md").is_file()
    assert not (evaluated.path / "evaluate.log").exists()
    assert unevaluated.cli("models").stdout.startswith(f"  {run}  perplexity ")
    published = unevaluated.cli("publish", run, "--force")  # 4 steps may not beat the base
    assert published.returncode == 0, published.stderr
    assert unevaluated.registry.current().id == run


def test_evaluating_a_finished_run_again_that_fails_keeps_its_metrics(unevaluated):
    run = unevaluated.run_id
    unevaluated.bring_the_base_back()
    assert unevaluated.cli("evaluate", run).returncode == 0
    metrics = unevaluated.registry.run(run).metrics
    shutil.rmtree(unevaluated.base)
    again = unevaluated.cli("evaluate", run)
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.splitlines()[-1].startswith(
        f"error: evaluating run {run} again failed (its earlier metrics are kept): "
        f"{unevaluated.base} is not a model folder")
    kept = unevaluated.registry.run(run)
    assert kept.metrics == metrics and kept.status.state == "complete"
