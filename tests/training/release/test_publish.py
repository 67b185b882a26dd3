"""Publishing, refusing and rolling back runs in a real registry folder."""

import json
import shutil

import pytest

from model.errors import RegistryError
from model.registry.runs import Registry
from model.serving.ct2 import has_conversion
from tests.conftest import artist_models
from tests.training.conftest import cli, copy_runs
from training.release.publish import publish, rollback


@pytest.fixture
def registry(tmp_path, trained) -> Registry:
    """A registry holding copies of a good run (40 steps) and a poor one (2 steps)."""
    registry = Registry(tmp_path / "models")
    copy_runs(registry, trained, "good", "poor")
    return registry


def test_publish_makes_a_run_current_and_records_it(registry):
    result = publish(registry, "good")
    assert registry.current().id == "good" and registry.history() == ["good"]
    assert result.previous is None and result.perplexity == pytest.approx(
        registry.run("good").metrics["perplexity"], rel=1e-3)
    assert registry.current_link.is_symlink()


def test_publish_writes_the_ctranslate2_conversion_before_the_link_moves(registry):
    shutil.rmtree(registry.run("good").path / "ct2", ignore_errors=True)  # evaluate made one
    assert not has_conversion(registry.run("good").path)
    result = publish(registry, "good")
    assert result.converted == "converted for CTranslate2"
    assert has_conversion(registry.current().path)


def test_an_openvino_export_that_fails_still_publishes_and_says_why_in_one_line(registry,
                                                                              tmp_path):
    # A real program in optimum-cli's place that fails the way it does on an odd architecture.
    exporter = tmp_path / "optimum-cli"
    exporter.write_text("#!/bin/sh\necho 'ValueError: Unsupported model type nope' >&2\nexit 1\n")
    exporter.chmod(0o755)
    result = publish(registry, "good", exporter=str(exporter))
    assert result.converted == ("converted for CTranslate2; no OpenVINO conversion: OpenVINO "
                                "cannot convert good: ValueError: Unsupported model type nope")
    assert registry.current().id == "good"
    assert not (registry.current().path / "openvino").exists()


def test_a_worse_run_is_refused_unless_forced(registry):
    publish(registry, "good")
    with pytest.raises(RegistryError, match="worse than the current model good"):
        publish(registry, "poor")
    assert registry.current().id == "good" and registry.history() == ["good"]
    forced = publish(registry, "poor", force=True)
    assert forced.previous.id == "good" and forced.previous_perplexity < forced.perplexity
    assert registry.current().id == "poor"


def worse_than_its_base(registry: Registry) -> str:
    """A copy of the poor run that says it started from the good run: worse than its base."""
    shutil.copytree(registry.runs_dir / "poor", registry.runs_dir / "worse")
    path = registry.runs_dir / "worse" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "base_model": str(registry.runs_dir / "good")}))
    return "worse"


def test_a_first_run_worse_than_its_base_model_is_refused_unless_forced(registry):
    run = worse_than_its_base(registry)
    with pytest.raises(RegistryError, match=r"run worse has validation perplexity .* worse "
                                            r"than its base model .*good at .* on the same songs"):
        publish(registry, run)
    assert registry.current() is None and registry.history() == []
    assert publish(registry, run, force=True).previous_perplexity is None  # not compared
    assert registry.current().id == run


def test_a_first_run_is_compared_with_the_base_model_it_started_from(registry):
    result = publish(registry, "good")
    base = registry.run("good").manifest["base_model"]
    assert result.against == f"its base model {base}" and result.per == "token"
    assert result.previous_perplexity == pytest.approx(
        registry.run("good").metrics["base_perplexity"], rel=1e-3)
    assert result.perplexity < result.previous_perplexity


def test_publish_compares_the_scores_evaluation_kept_of_the_same_songs(registry):
    # Evaluation scored both models on these very windows: scoring them again cost publish
    # about a minute a first run (SmolLM2-135M, 2 cores).
    first = publish(registry, "good")
    metrics = registry.run("good").metrics
    assert first.scored == ()
    assert round(first.perplexity, 2) == metrics["perplexity"]  # the report's, unrounded
    assert round(first.previous_perplexity, 2) == metrics["base_perplexity"]
    second = publish(registry, "poor", force=True)  # the current model: the same songs too
    assert second.scored == ()
    assert round(second.previous_perplexity, 2) == metrics["perplexity"]


def test_publish_scores_afresh_a_model_scored_on_other_songs(registry):
    publish(registry, "good")
    shutil.copytree(registry.runs_dir / "poor", registry.runs_dir / "edited")
    val = registry.runs_dir / "edited" / "data" / "val.jsonl"
    songs = [json.loads(line) for line in val.read_text().splitlines()]
    songs[0]["lyrics"] += "\nand one more line of our own"  # the songs since edited
    val.write_text("".join(json.dumps(song) + "\n" for song in songs))
    assert publish(registry, "edited", force=True).scored == ("edited", "good")


def test_publish_scores_afresh_a_base_model_other_than_the_one_evaluation_scored(registry):
    # The good run's copy says it started from the poor run: evaluation scored another base.
    shutil.copytree(registry.runs_dir / "good", registry.runs_dir / "rebased")
    path = registry.runs_dir / "rebased" / "manifest.json"
    poor = str(registry.runs_dir / "poor")
    path.write_text(json.dumps({**json.loads(path.read_text()), "base_model": poor}))
    result = publish(registry, "rebased")
    assert result.against == f"its base model {poor}" and result.scored == (poor,)
    assert result.previous_perplexity == pytest.approx(
        registry.run("poor").metrics["perplexity"], rel=1e-3)


def test_a_corrupt_run_is_refused_and_current_is_untouched(registry):
    publish(registry, "poor", force=True)  # worse than its base: only forced
    weights = registry.runs_dir / "good" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(RegistryError, match="run good is corrupt"):
        publish(registry, "good")
    assert registry.current().id == "poor"


def test_an_incomplete_run_is_refused(registry):
    (registry.runs_dir / "good" / "manifest.json").unlink()
    with pytest.raises(RegistryError, match="run good is incomplete"):
        publish(registry, "good")
    (registry.runs_dir / "poor" / "config.json").unlink()
    with pytest.raises(RegistryError, match=r"missing config\.json"):
        publish(registry, "poor")
    assert registry.current() is None


def test_rollback_serves_the_previous_run(registry):
    publish(registry, "poor", force=True)  # worse than its base: only forced
    publish(registry, "good")
    assert rollback(registry).id == "poor"
    assert registry.current().id == "poor" and registry.history() == ["poor"]
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(registry)


def test_a_publish_that_crashed_before_the_link_moved_is_ignored(registry):
    publish(registry, "poor", force=True)  # worse than its base: only forced
    shutil.copytree(registry.runs_dir / "good", registry.runs_dir / "third")
    publish(registry, "good")
    # A publish of "third" that died after writing history but before moving the link:
    (registry.history_path).write_text(json.dumps(["poor", "good", "third"]))
    assert registry.current().id == "good"
    assert rollback(registry).id == "poor"


def test_models_lists_runs_and_marks_the_current_one(registry, hermetic_env, example_corpus):
    shutil.move(registry.root, artist_models(hermetic_env))
    assert cli(hermetic_env, "publish", "good").returncode == 0
    (artist_models(hermetic_env) / "runs" / "zz-killed").mkdir()  # killed before it said anything
    failed = cli(hermetic_env, "train", "--corpus", str(example_corpus), "--base-model",
                 "/nonexistent/model")
    assert failed.returncode == 1
    listing = cli(hermetic_env, "models").stdout.splitlines()
    assert listing[0].endswith("  failed at train: cannot load base model '/nonexistent/model': "
                               + listing[0].split(": ", 2)[2])
    assert listing[1].startswith("* good  perplexity ")
    assert listing[2].startswith("  poor  perplexity ")
    assert listing[3] == "  zz-killed  abandoned"


def test_prune_deletes_failed_abandoned_and_old_runs_but_keeps_current_and_previous(
        registry, hermetic_env, example_corpus):
    shutil.copytree(registry.runs_dir / "good", registry.runs_dir / "aaa-old")
    shutil.copytree(registry.runs_dir / "good", registry.runs_dir / "zz-newer")
    shutil.move(registry.root, artist_models(hermetic_env))
    registry = Registry(artist_models(hermetic_env))
    publish(registry, "poor", force=True)
    publish(registry, "good")
    (registry.runs_dir / "zz-killed").mkdir()
    assert cli(hermetic_env, "train", "--corpus", str(example_corpus), "--base-model",
               "/nonexistent/model").returncode == 1
    failed = next(r.id for r in registry.runs() if r.status.state == "failed")

    dry = cli(hermetic_env, "prune", "--dry-run")
    assert f"would delete {failed}: failed at train: cannot load base model" in dry.stdout
    assert len(registry.runs()) == 6
    pruned = cli(hermetic_env, "prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted zz-killed: abandoned" in pruned.stdout
    assert "deleted aaa-old: older than the current run and never published" in pruned.stdout
    assert [r.id for r in registry.runs()] == ["good", "poor", "zz-newer"]
    assert not list(registry.runs_dir.glob(".*"))  # nothing half-deleted left behind
    assert rollback(registry).id == "poor"  # the previous run is still there to go back to


def test_cli_publish_refusal_is_one_line_and_exit_1(registry, hermetic_env):
    shutil.move(registry.root, artist_models(hermetic_env))
    assert cli(hermetic_env, "publish", "good").returncode == 0
    refused = cli(hermetic_env, "publish", "poor")
    assert refused.returncode == 1 and refused.stderr.startswith("error: run poor has validation")
    assert "Traceback" not in refused.stderr
    assert json.loads((artist_models(hermetic_env) / "history.json").read_text()) == ["good"]


def test_cli_refuses_a_first_run_worse_than_its_base_in_one_line(registry, hermetic_env):
    shutil.move(registry.root, artist_models(hermetic_env))
    registry = Registry(artist_models(hermetic_env))
    run = worse_than_its_base(registry)
    refused = cli(hermetic_env, "publish", run)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith(f"error: run {run} has validation perplexity ")
    assert f"worse than its base model {registry.runs_dir / 'good'} at " in refused.stderr
    assert "publish --force" in refused.stderr and registry.current() is None
