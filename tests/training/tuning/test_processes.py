"""Training with two processes through `accelerate launch` (DDP over gloo, on the CPU)."""

import json

from model.registry.runs import Registry
from tests.conftest import artist_models, run_cli, train_args
from training.release.publish import publish


def test_two_processes_make_one_run_with_the_files_of_one_process(tmp_path, trained, tiny_base,
                                                                  example_corpus):
    # accelerate's `--multi_gpu` is its launcher of several local processes; with
    # ACCELERATE_USE_CPU they train on the CPU over gloo. (`--cpu --num_processes 2` starts one.)
    result = run_cli("accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                     "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                     "-m", *train_args(example_corpus, "--base-model", str(tiny_base),
                                       "--max-steps", "12", "--progress", "json"),
                     env={"SWIFTAI_HOME": str(tmp_path), "ACCELERATE_USE_CPU": "true"})
    assert result.returncode == 0, result.stderr
    registry = Registry(artist_models(tmp_path))
    [run] = registry.runs()
    assert run.complete and run.manifest["training"]["processes"] == 2
    assert files(run.path) == files(trained("good").run.path)

    records = [json.loads(line) for line in result.stdout.splitlines()]  # JSON only on stdout
    steps = [r["step"] for r in records if r["stage"] == "train" and "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 12  # one process reports, once a step
    assert [r["stage"] for r in records if r.get("event") == "start"] == ["train", "evaluate"]
    assert run.metrics["perplexity"] < run.metrics["base_perplexity"]
    assert publish(registry, run.id).run.id == registry.current().id == run.id


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
