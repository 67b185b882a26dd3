"""Fine-tuning through the real CLI on a tiny GPT-2: learning, reports, progress, resume after a
kill."""

import fcntl
import io
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios

import pytest
from safetensors.torch import load_file

from model.registry.runs import Registry
from model.serving.ct2 import has_conversion
from model.serving.hf import TransformersBackend
from tests.conftest import ROOT, artist_models, run_cli, train_args
from tests.training.conftest import cli
from training.data.dataset import load_corpus
from training.evaluation.evaluate import song_openings
from training.evaluation.scoring import score_songs
from training.progress import Progress
from training.release.runs import evaluate_run


def only_run(home):
    runs = Registry(artist_models(home)).runs()
    assert len(runs) == 1
    return runs[0]


def test_training_lowers_validation_perplexity_and_writes_a_report(trained, example_corpus):
    run = trained("good").run
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
    assert run.status.state == "complete"


def test_evaluation_writes_whole_songs_and_holds_their_style_beside_the_artists(trained):
    run = trained("good").run
    m = run.metrics
    for name in ("rhyme_rate", "words_per_line", "recurring_block_rate"):
        figures = m["style"][name]
        assert set(figures) == {"artist", "base", "fine_tuned"}
        assert all(isinstance(v, float | int) and v >= 0 for v in figures.values())
    corpus = json.loads((run.path / "data" / "manifest.json").read_text())
    assert m["style"]["words_per_line"]["artist"] == corpus["style"]["words_per_line"]
    assert m["song_copy_rate"] == 0.0  # the novelty guard runs in song mode too
    assert set(m["style_targets"]) == {"rhyme_rate", "words_per_line", "words_per_line_p90",
                                       "lines_per_song", "chorus_recurs", "no_copies",
                                       "no_loops", "no_junk"}
    report = (run.path / "report.md").read_text()
    assert "## Songs, beside the artist" in report and "[Chorus]" in report


def test_evaluation_scores_how_well_a_classifier_tells_its_stanzas_from_the_artists(trained):
    run = trained("good").run
    told = run.metrics["can_tell"]
    assert set(told) == {"classifier", "target", "real_vs_real", "base", "fine_tuned"}
    # The example corpus keeps one validation song: too few to tell, and the report says so.
    assert told["fine_tuned"]["songs"] == [1, 1] and told["fine_tuned"]["accuracy"] is None
    report = (run.path / "report.md").read_text()
    assert "## Can you tell? (stanzas)" in report
    assert "| fine-tuned | — (needs 2 or more songs with lyrics on each side) |" in report


def test_evaluation_writes_its_songs_on_ctranslate2_from_at_most_eight_openings(trained):
    run = trained("good").run
    assert run.metrics["song_backend"] == "ctranslate2"  # installed here: what users get
    assert has_conversion(run.path)  # converted for it (publish serves the same conversion)
    assert run.metrics["song_openings"] == min(8, run.metrics["val_songs"])
    assert song_openings([{"lyrics": f"line {i}\nmore"} for i in range(20)], 8) == \
        [(f"line {i}", None) for i in range(8)]


def test_evaluation_can_write_from_fewer_openings(trained, tmp_path):
    run = trained("good").run
    metrics = evaluate_run(run.path, Progress(stream=io.StringIO()), cache=tmp_path,
                           songs=1)["metrics"]
    assert metrics["song_openings"] == 1 and metrics["song_backend"] == "ctranslate2"
    assert list((tmp_path / "base").iterdir())  # the base model's conversion, kept for next time


def test_the_validation_curve_measures_what_the_report_measures(trained):
    run = trained("good").run
    history = json.loads((run.path / "train_log.json").read_text())
    best = min(h["eval_loss"] for h in history if "eval_loss" in h)
    assert run.manifest["training"]["best_eval_loss"] == best
    # The report gives the trainer's score of the kept weights rather than scoring them again;
    # the saved model, scored afresh on the validation songs, must score the same.
    assert run.metrics["loss"] == round(best, 4)
    fresh = score_songs(*(lambda b: (b.model, b.tokenizer, b.info.spec))(
        TransformersBackend.load(run.path, model_id="check")),
        load_corpus(run.path / "data").val, run.manifest["options"]["block_size"])
    assert fresh.loss == pytest.approx(best, rel=1e-2)
    assert fresh.token_accuracy == pytest.approx(run.metrics["token_accuracy"], abs=1e-2)
    assert fresh.tokens == run.metrics["val_tokens"]


def test_piped_progress_is_one_line_per_evaluation(trained):
    output = trained("good").output.stderr
    lines = [line for line in output.splitlines() if line.startswith("train step ")]
    evaluations = trained("good").run.manifest["training"]["timing"]["evaluations"]
    assert len(lines) == evaluations >= 5
    assert lines[-1].startswith("train step 40/40: loss ") and ", eval loss " in lines[-1]
    assert "{'loss'" not in output and "%|" not in output and "\r" not in output


def test_a_terminal_shows_one_bar_and_no_raw_logs(tmp_path, tiny_base, example_corpus):
    screen = in_a_terminal([sys.executable, "-m", *train_args(
        example_corpus, "--base-model", str(tiny_base), "--max-steps", "12")],
        env={**os.environ, "SWIFTAI_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in screen, screen
    drawn = [part for part in re.split(r"[\r\n]+", screen) if "%|" in part]
    assert drawn and all(part.startswith("train ") for part in drawn)  # no evaluation bars
    assert "12/12 steps" in drawn[-1] and "eval loss " in drawn[-1]
    assert "{'loss'" not in screen and "'eval_loss'" not in screen
    assert screen.count("== train") == 1 and "== evaluate" in screen


def in_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """Run `command` with a pseudo-terminal (80 columns) as its stdio; return what it printed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_json_progress_is_one_json_object_per_line(hermetic_env, tiny_base, example_corpus):
    result = cli(hermetic_env, *train_args(example_corpus, "--base-model", str(tiny_base),
                                           "--max-steps", "6", "--progress", "json")[1:])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    train = [r for r in records if r["stage"] == "train" and "step" in r]
    assert train[-1]["step"] == train[-1]["total"] == 6
    assert all({"eta", "total"} <= r.keys() for r in train)
    assert any("loss" in r for r in train) and any("eval_loss" in r for r in train)
    assert [r["stage"] for r in records if r.get("event") == "start"] == ["train", "evaluate"]


def test_a_bad_base_model_is_a_clear_error(hermetic_env, example_corpus):
    result = cli(hermetic_env, *train_args(example_corpus, "--base-model",
                                           "/nonexistent/model")[1:])
    assert result.returncode == 1
    assert "error: cannot load base model '/nonexistent/model'" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends(tmp_path, tiny_base,
                                                                   example_corpus):
    # A full checkpoint at every evaluation (the default waits 10 minutes between them).
    args = train_args(example_corpus, "--base-model", str(tiny_base), "--max-steps", "120",
                      "--learning-rate", "5e-4", "--seed", "7", "--checkpoint-minutes", "0")
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
    assert not killed.complete and Registry(artist_models(killed_home)).current() is None
    assert killed.status.describe() == "abandoned during train"

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


def test_resume_with_nothing_interrupted_says_so(hermetic_env):
    result = cli(hermetic_env, "train", "--resume")
    assert result.returncode == 1 and "no interrupted run to resume" in result.stderr
