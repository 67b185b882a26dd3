"""Every command that loads a base model fails fast when the hub cannot be reached: one line,
no traceback, no hub warning twice (as `python -m bot` does)."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import EXAMPLE_EXPORT, run_cli

HANG = 60  # seconds: a guard against hanging; the real figure is a few seconds (see the report)


@pytest.fixture
def unreachable_hub(tmp_path, monkeypatch) -> dict[str, str]:
    """HF_ENDPOINT at a loopback port nothing listens on, an empty cache, HF_HUB_OFFLINE unset."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf")}


def fails_offline(result) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(lines) == len(set(lines)), result.stderr  # no warning printed twice
    assert lines[-1].startswith("error: ")
    assert "cannot reach the Hugging Face hub to download 'gpt2'" in lines[-1]
    assert "local model folder" in lines[-1]


@pytest.mark.parametrize("command", [
    ("generate", "--model", "gpt2", "--prompt", "offline"),
    ("convert", "--base", "--base-model", "gpt2"),
])
def test_a_command_that_loads_a_hub_model_fails_fast_offline(command, unreachable_hub):
    fails_offline(run_cli("training", *command, env=unreachable_hub, timeout=HANG))


def test_train_fails_fast_offline_and_its_run_says_why(unreachable_hub, example_corpus,
                                                       hermetic_env):
    result = run_cli("training", "train", "--corpus", str(example_corpus), "--base-model",
                     "gpt2", env=unreachable_hub, timeout=HANG)
    fails_offline(result)
    listing = run_cli("training", "models").stdout
    assert "failed at train: cannot load base model 'gpt2': cannot reach the" in listing


def test_run_fails_fast_offline(unreachable_hub):
    imported = run_cli("training", "import", str(EXAMPLE_EXPORT))
    assert imported.returncode == 0, imported.stderr
    fails_offline(run_cli("training", "run", "--skip-fetch", "--artist", "Juniper Vale",
                          "--base-model", "gpt2", env=unreachable_hub, timeout=HANG))
