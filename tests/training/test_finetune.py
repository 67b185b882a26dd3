"""Fine-tuning through the real CLI on a tiny GPT-2: learning, reports, resume after a kill."""

import json
import os
import signal
import subprocess
import sys

from safetensors.torch import load_file

from model.registry import Registry
from tests.conftest import ROOT, run_cli, train_args


def only_run(home):
    runs = Registry(home / "models").runs()
    assert len(runs) == 1
    return runs[0]


def test_training_lowers_validation_perplexity_and_writes_a_report(hermetic_env, tiny_base,
                                                                   example_corpus):
    result = run_cli(*train_args(example_corpus, "--base-model", str(tiny_base),
                                 "--max-steps", "40"))
    assert result.returncode == 0, result.stderr
    run = only_run(hermetic_env)
    m = run.metrics
    assert m["perplexity"] < 0.7 * m["base_perplexity"]
    assert m["loss"] < m["base_loss"] and m["token_accuracy"] > m["base_token_accuracy"]
    for key in ("bleu", "distinct_1", "distinct_2", "copy_rate", "degenerate_rate",
                "base_bleu"):
        assert key in m
    history = json.loads((run.path / "train_log.json").read_text())
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    assert len(evals) >= 5 and evals[-1] < evals[0]
    assert (run.path / "report.png").read_bytes()[:4] == b"\x89PNG"
    report = (run.path / "report.md").read_text()
    assert "| perplexity |" in report and "## Samples" in report
    assert not (run.path / "checkpoints").exists()
    generation = json.loads((run.path / "generation_config.json").read_text())
    assert generation["do_sample"] and generation["repetition_penalty"] > 1
    assert run.manifest["albums"] == ["Harbor Lights", "Neon Psalms", "Static Bloom"]
    assert run.manifest["corpus"]["content_hash"] == json.loads(
        (example_corpus / "manifest.json").read_text())["content_hash"]


def test_json_progress_is_one_json_object_per_line(hermetic_env, tiny_base, example_corpus):
    result = run_cli(*train_args(example_corpus, "--base-model", str(tiny_base),
                                 "--max-steps", "6", "--progress", "json"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    train = [r for r in records if r["stage"] == "train" and "step" in r]
    assert train[-1]["step"] == train[-1]["total"] == 6
    assert all({"eta", "total"} <= r.keys() for r in train)
    assert any("loss" in r for r in train)
    assert [r["stage"] for r in records if r.get("event") == "start"] == ["train", "evaluate"]


def test_a_bad_base_model_is_a_clear_error(example_corpus):
    result = run_cli(*train_args(example_corpus, "--base-model", "/nonexistent/model"))
    assert result.returncode == 1
    assert "error: cannot load base model '/nonexistent/model'" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends(tmp_path, tiny_base,
                                                                   example_corpus):
    args = train_args(example_corpus, "--base-model", str(tiny_base), "--max-steps", "120",
                      "--learning-rate", "5e-4", "--seed", "7")
    straight_home, killed_home = tmp_path / "straight", tmp_path / "killed"
    straight = run_cli(*args, env={"SWIFTAI_HOME": str(straight_home)})
    assert straight.returncode == 0, straight.stderr

    # Published model in the killed home: a kill mid-training must leave it serving.
    env = {"SWIFTAI_HOME": str(killed_home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", *args, "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **env})
    for line in proc.stdout:
        record = json.loads(line)
        if record.get("stage") == "train" and record.get("step", 0) >= 30:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed = only_run(killed_home)
    assert not killed.complete and Registry(killed_home / "models").current() is None

    resumed = run_cli("training", "train", "--resume", env={"SWIFTAI_HOME": str(killed_home)})
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {killed.id}" in resumed.stdout
    a, b = only_run(straight_home), only_run(killed_home)
    assert b.manifest["training"]["resumed_from"].startswith("checkpoint-")
    assert a.manifest["training"]["steps"] == b.manifest["training"]["steps"]
    wa, wb = load_file(a.path / "model.safetensors"), load_file(b.path / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert (wa[name] - wb[name]).abs().max().item() < 1e-5, name
    assert abs(a.metrics["perplexity"] - b.metrics["perplexity"]) < 0.01


def test_resume_with_nothing_interrupted_says_so():
    result = run_cli("training", "train", "--resume")
    assert result.returncode == 1 and "no interrupted run to resume" in result.stderr
