"""The Docker image and compose file can run the offline path and start vLLM only when useful."""

import re
import tomllib

import yaml

from tests.conftest import ROOT


def test_the_image_holds_every_package_and_the_examples_and_pins_the_tested_torch():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\S+) \1$", dockerfile, re.M))
    assert {p.rstrip("*") for p in packages} | {"migrations", "examples"} <= copied
    ci_torch = re.search(r"torch==([\d.]+)", (ROOT / ".ci" / "run").read_text())[1]
    assert f"ARG TORCH_VERSION={ci_torch}" in dockerfile
    assert '"torch==$TORCH_VERSION"' in dockerfile


def test_the_build_context_leaves_out_the_venv_secrets_and_data():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv/", ".env", "var/", ".git/"} <= set(ignored)


def test_compose_starts_vllm_only_in_its_profile_and_passes_the_gpu_build_argument():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    vllm, bot = compose["services"]["vllm"], compose["services"]["bot"]
    assert vllm["profiles"] == ["serve"]  # `run --rm bot ...` before a publish leaves it off
    assert bot["depends_on"]["vllm"]["required"] is False
    assert "TORCH_INDEX_URL" in bot["build"]["args"]
