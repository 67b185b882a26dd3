"""The model registry, read side: trained runs, and which one is published.

What the bot needs to find its model. Writing the registry (publish, rollback) is the training
CLI's job (training/release/publish.py); nothing here imports torch or transformers.

Layout under `$SWIFTAI_HOME/models/<artist-slug>/` (one registry per artist; `slug` names it):
  runs/<run-id>/   save_pretrained model and tokenizer, generation_config.json, data/ (the corpus
                   it was trained on), manifest.json, then metrics.json and report.*. The
                   manifest is written once the weights are saved: a run without one is
                   incomplete (still training, failed, or killed); a run whose manifest has no
                   metrics yet is trained but not evaluated (evaluating, or its evaluation
                   failed: `python -m training evaluate RUN` finishes it). While a process
                   trains or evaluates a run, status.json names the stage (and, after a failure,
                   the error), and the process holds an flock on `.lock`: a run that says it is
                   running but whose lock is free was killed (abandoned).
  current          symlink to runs/<run-id>; swapped atomically on publish and rollback.
  history.json     the stack of published run ids, newest last.
A crash at any moment leaves `current` pointing at a complete run: the link only ever moves to a
run that has been loaded and tried, in one atomic rename (training/release/publish.py).

A home made before there were several artists has one registry straight under `models/`;
`move_single_artist_home` moves it to its artist's folder on first start (bot and CLI alike).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.errors import RegistryError
from model.registry.files import fsync_dir

REQUIRED_FILES = ("config.json", "generation_config.json", "tokenizer_config.json", "manifest.json")
STATUS_FILE = "status.json"  # {"state": running|failed|interrupted|complete, "stage", "message"}
LOCK_FILE = ".lock"  # flock-ed by the process training the run, for as long as it lives
SINGLE_ARTIST_LAYOUT = ("runs", "current", "history.json")  # models/ before artists had folders
MOVING = ".moving-"  # models/.moving-<slug>/: a single-artist home on its way to models/<slug>/


def slug(artist: str) -> str:
    """Name an artist's folders: lowercase ASCII, runs of anything else one "-" ("Taylor Swift"
    -> "taylor-swift"); raise RegistryError for a name with no letters or digits."""
    ascii_name = unicodedata.normalize("NFKD", artist).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if not name:
        raise RegistryError(f"artist name {artist!r} has no letters or digits to name a "
                            "folder with")
    if name in SINGLE_ARTIST_LAYOUT:  # would collide with a single-artist home's own entries
        raise RegistryError(f"artist name {artist!r} makes the folder name {name!r}, which "
                            "the model registry keeps for itself; spell it differently")
    return name


@dataclass(frozen=True)
class RunStatus:
    # complete (trained and evaluated), unevaluated (trained; its evaluation failed or was
    # stopped), running, failed, or abandoned (killed or interrupted before it was trained)
    state: str
    stage: str | None = None  # the stage it is in, or that it failed or was abandoned in
    message: str | None = None  # the error, for a failed or unevaluated run

    def describe(self) -> str:
        """Say in a few words how the run stands: `failed at train: out of memory`."""
        if self.state == "failed":
            return f"failed at {self.stage or 'start'}: {self.message}"
        if self.state == "unevaluated":
            return f"not evaluated: {self.message}" if self.message else "not evaluated"
        if self.state == "abandoned":
            return f"abandoned during {self.stage}" if self.stage else "abandoned"
        return f"running ({self.stage})" if self.state == "running" else self.state


def lock_is_held(folder: Path) -> bool:
    """Say whether a live process holds the run's lock (it is training it right now)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


@dataclass(frozen=True)
class Run:
    id: str
    path: Path
    manifest: dict[str, Any] | None  # None while incomplete

    @property
    def complete(self) -> bool:
        """Say whether training finished and the manifest was written (the weights are whole)."""
        return self.manifest is not None

    @property
    def evaluated(self) -> bool:
        """Say whether the run is trained and its evaluation's metrics are in the manifest."""
        return bool(self.metrics)

    @property
    def metrics(self) -> dict[str, Any]:
        """Return the run's evaluation metrics (empty if it has none)."""
        return (self.manifest or {}).get("metrics") or {}

    @property
    def status(self) -> RunStatus:
        """Return how the run stands: complete, unevaluated (and why), running, failed (and
        where), or abandoned."""
        if self.evaluated:
            return RunStatus("complete")
        try:
            status = json.loads((self.path / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            status = {}  # killed before its first status, or made by an older version
        state, stage = status.get("state"), status.get("stage")
        if state == "running" and lock_is_held(self.path):
            return RunStatus("running", stage)
        if self.complete:  # trained: only its evaluation is missing
            reason = status.get("message") if state == "failed" else \
                f"interrupted during {stage}" if state in ("running", "interrupted") else None
            return RunStatus("unevaluated", stage, reason)
        if state == "failed":
            return RunStatus("failed", stage, status.get("message"))
        return RunStatus("abandoned", stage)

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
        """Refuse a run that is incomplete or misses files the bot needs to load it.

        A trained run whose evaluation failed passes: its weights are whole, and only
        `publish` asks for the evaluation (unless forced)."""
        if not run.complete:
            raise RegistryError(f"run {run.id} is incomplete (no manifest.json): it is still "
                                "training or was interrupted; resume it or train again")
        missing = [f for f in REQUIRED_FILES if not (run.path / f).is_file()]
        if not any((run.path / f).is_file()
                   for f in ("model.safetensors", "model.safetensors.index.json")):
            missing.append("model.safetensors")
        if missing:
            raise RegistryError(f"run {run.id} is incomplete: missing {', '.join(missing)}")


def artist_registry(models_dir: Path, artist: str) -> Registry:
    """Return the registry of one artist: `models/<slug>/`."""
    return Registry(models_dir / slug(artist))


@contextlib.contextmanager
def _moving_lock(models_dir: Path) -> Iterator[None]:
    """Hold `models/.moving.lock`: the bot and the CLI may both start on an old home at once."""
    models_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(models_dir / ".moving.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _home_artist(models_dir: Path, artists: Sequence[str]) -> str:
    """Say whose a single-artist home is: its published run's corpus artist when that one is
    among `artists`, else the first of them (the artist the old code served it as)."""
    try:
        manifest = Registry(models_dir).current()
    except RegistryError:  # a dangling link or a corrupt manifest: moved as it is
        manifest = None
    named = (((manifest.manifest or {}).get("corpus") or {}).get("artist")
             if manifest else None)
    matching = [a for a in artists if named and slug(a) == slug(named)]
    return matching[0] if matching else artists[0]


def move_single_artist_home(models_dir: Path, artists: Sequence[str]) -> Path | None:
    """Move a registry laid out for one artist (`models/{runs,current,history.json}`) to its
    artist's folder `models/<slug>/`; return that folder, or None when there was nothing to move.

    Each entry moves in one rename (every run with `runs/`; `current` is relative, so it still
    points at its run), first into a hidden `models/.moving-<slug>/`, which is then renamed
    into place. A crash at any point leaves a layout this function recognises and finishes on
    the next start: no run, history entry or published link is ever lost or copied.
    """
    if not artists:
        raise RegistryError("no artist to move the single-artist model registry to")
    if not models_dir.is_dir():
        return None
    with _moving_lock(models_dir):
        old = [models_dir / n for n in SINGLE_ARTIST_LAYOUT
               if (models_dir / n).exists() or (models_dir / n).is_symlink()]
        unfinished = sorted(models_dir.glob(f"{MOVING}*"))
        if not old and not unfinished:
            return None
        staging = unfinished[0] if unfinished else \
            models_dir / f"{MOVING}{slug(_home_artist(models_dir, artists))}"
        target = models_dir / staging.name[len(MOVING):]
        if target.exists():
            names = ", ".join(p.name for p in old)
            raise RegistryError(f"{models_dir} holds both a single-artist registry ({names}) "
                                f"and {target}: move one of them away by hand")
        staging.mkdir(exist_ok=True)
        for entry in old:
            os.replace(entry, staging / entry.name)
        fsync_dir(models_dir)
        os.rename(staging, target)
        fsync_dir(models_dir)
        return target
