"""The model registry: trained runs, and which one the bot serves.

Layout under `$SWIFTAI_HOME/models/`:
  runs/<run-id>/   save_pretrained model and tokenizer, generation_config.json, data/ (the corpus
                   it was trained on), metrics.json, report.*, and manifest.json, written last:
                   a run without a manifest is incomplete (still training, or killed).
  current          symlink to runs/<run-id>; swapped atomically on publish and rollback.
  history.json     the stack of published run ids, newest last.
A crash at any moment leaves `current` pointing at a complete run: the link only ever moves to a
run that has been loaded and tried, in one atomic rename.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.backend import Request
from model.errors import RegistryError
from model.files import write_json_atomic
from model.generator import Generator
from model.scoring import score_songs

REQUIRED_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "manifest.json")


@dataclass(frozen=True)
class Run:
    id: str
    path: Path
    manifest: dict[str, Any] | None  # None while incomplete

    @property
    def complete(self) -> bool:
        """Say whether training finished and the manifest was written."""
        return self.manifest is not None

    @property
    def metrics(self) -> dict[str, Any]:
        """Return the run's evaluation metrics (empty if it has none)."""
        return (self.manifest or {}).get("metrics") or {}

    @property
    def albums(self) -> list[str]:
        """Return the albums the run's model knows."""
        return (self.manifest or {}).get("albums") or []

    def val_songs(self) -> list[dict[str, Any]]:
        """Return the validation songs the run was measured on."""
        path = self.path / "data" / "val.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Registry:
    def __init__(self, models_dir: Path) -> None:
        self.root = models_dir
        self.runs_dir = models_dir / "runs"
        self.current_link = models_dir / "current"
        self.history_path = models_dir / "history.json"

    def new_run_dir(self) -> Path:
        """Return a fresh, not yet existing run folder: <UTC time>-<random>."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return self.runs_dir / f"{stamp}-{secrets.token_hex(3)}"

    def run(self, run_id: str) -> Run:
        """Return a run by id; raise if there is no such folder."""
        path = self.runs_dir / run_id
        if "/" in run_id or run_id.startswith(".") or not path.is_dir():
            raise RegistryError(f"no run {run_id!r} in {self.runs_dir}")
        manifest_path = path / "manifest.json"
        manifest = None
        if manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise RegistryError(f"run {run_id} has a corrupt manifest.json: {e}") from e
        return Run(run_id, path, manifest)

    def runs(self) -> list[Run]:
        """Return every run, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        return [self.run(p.name) for p in sorted(self.runs_dir.iterdir())
                if p.is_dir() and not p.name.startswith(".")]

    def current(self) -> Run | None:
        """Return the published run, or None before the first publish."""
        if not self.current_link.is_symlink():
            return None
        return self.run(Path(os.readlink(self.current_link)).name)

    def history(self) -> list[str]:
        """Return the published run ids, oldest first."""
        if not self.history_path.exists():
            return []
        return json.loads(self.history_path.read_text(encoding="utf-8"))

    def check(self, run: Run) -> None:
        """Refuse a run that is incomplete or misses files the bot needs to load it."""
        if not run.complete:
            raise RegistryError(f"run {run.id} is incomplete (no manifest.json): it is still "
                                "training or was interrupted; resume it or train again")
        missing = [f for f in REQUIRED_FILES if not (run.path / f).is_file()]
        if not any((run.path / f).is_file()
                   for f in ("model.safetensors", "model.safetensors.index.json")):
            missing.append("model.safetensors")
        if missing:
            raise RegistryError(f"run {run.id} is incomplete: missing {', '.join(missing)}")

    def point_current(self, run: Run) -> None:
        """Move the `current` link to `run` in one atomic rename."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".current.{secrets.token_hex(4)}"
        tmp.symlink_to(Path("runs") / run.id)
        os.replace(tmp, self.current_link)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_publish(self, run: Run) -> None:
        """Push `run` on the history stack (before the link moves; see rollback)."""
        write_json_atomic(self.history_path, [*self.history(), run.id])

    def rollback_target(self) -> tuple[Run, list[str]]:
        """Return the run published before the current one, and the history without the current.

        Entries above the current run are publishes that crashed before their link moved.
        """
        current = self.current()
        if current is None:
            raise RegistryError("nothing is published yet")
        stack = self.history()
        while stack and stack[-1] != current.id:
            stack.pop()
        stack = stack[:-1]
        if not stack:
            raise RegistryError(f"{current.id} is the only model ever published; "
                                "nothing to roll back to")
        return self.run(stack[-1]), stack

    def rollback(self) -> Run:
        """Serve the previously published run again."""
        target, stack = self.rollback_target()
        self.check(target)
        # Link first: a crash before the history write leaves the old current above the new one
        # in the stack, which rollback_target already treats as an unfinished entry.
        self.point_current(target)
        write_json_atomic(self.history_path, stack)
        return target


@dataclass(frozen=True)
class Published:
    run: Run
    previous: Run | None
    perplexity: float  # the new run's, on its validation songs
    previous_perplexity: float | None  # the previous model's, on the same songs


def try_load(run: Run) -> Generator:
    """Load a run and generate a few tokens; raise RegistryError if either fails."""
    try:
        generator = Generator.load(run.path, model_id=run.id)
        generator.generate_raw([Request("Hello", max_new_tokens=4)])
    except Exception as e:  # any failure here means the folder is broken: say so, keep serving
        raise RegistryError(f"run {run.id} is corrupt: it does not load and generate "
                            f"({type(e).__name__}: {e})") from e
    return generator


def publish(registry: Registry, run_id: str, force: bool = False) -> Published:
    """Make `run_id` the served model, unless it is broken or worse than the current one.

    Both models are scored on the new run's validation songs, so the comparison is fair even when
    the corpus changed. `force` skips the comparison, never the load check.
    """
    run = registry.run(run_id)
    registry.check(run)
    current = registry.current()
    if current is not None and current.id == run.id:
        raise RegistryError(f"run {run.id} is already the current model")
    block_size = (run.manifest or {}).get("options", {}).get("block_size", 512)
    songs = run.val_songs()
    new = try_load(run)
    perplexity = score_songs(new.model, new.tokenizer, songs, block_size).perplexity
    del new
    previous_perplexity = None
    if current is not None:
        old = try_load(current)
        previous_perplexity = score_songs(old.model, old.tokenizer, songs, block_size).perplexity
        del old
        if perplexity > previous_perplexity and not force:
            raise RegistryError(
                f"run {run.id} has validation perplexity {perplexity:.2f}, worse than the current "
                f"model {current.id} at {previous_perplexity:.2f} on the same songs; "
                "publish --force to publish it anyway")
    registry.record_publish(run)
    registry.point_current(run)
    return Published(run, current, perplexity, previous_perplexity)
