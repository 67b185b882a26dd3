"""One artist, served: its registry, its base model, its engine (worker + composer), its run.

An artist is data, not code: a registry folder `models/<slug>/`, a corpus, a base model and a
model name on the inference servers. The App holds one Deployment per served artist, keyed by
the artist's name; each has its own worker thread and model, so a retrain or a reload of one
never stops another from serving.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.service.retrain import Retrainer
from bot.storage.store import Store
from model.errors import RegistryError
from model.lyrics.songtext import SONG_CHARS
from model.registry.runs import Registry, Run, artist_registry, slug
from model.serving import backends
from model.serving.ct2 import cached_base, has_conversion
from model.serving.protocol import Served
from model.serving.worker import Worker
from model.writing.composer import Composer
from swiftai.settings import Settings

log = logging.getLogger(__name__)


def public_name(base_model: str) -> str:
    """Name a base model for the public: a hub id as it is, a local folder by its own name
    (its path would tell every visitor where our files live)."""
    path = Path(base_model)
    return path.name if path.is_absolute() or path.exists() else base_model


def base_source(settings: Settings, base_model: str) -> str | Path:
    """Return what to load the base model from: its cached conversion where the backend uses one.

    With SERVING_BACKEND=ctranslate2 the base model is converted once, by the training CLI in a
    subprocess (this process never imports torch on that backend).
    """
    cached = cached_base(settings.cache_dir, base_model)
    if backends.is_remote(settings.serving_backend):
        return base_model  # the servers hold the weights
    if has_conversion(cached) or settings.serving_backend != "ctranslate2":
        return cached if has_conversion(cached) else base_model
    log.info("converting the base model %s for CTranslate2 (once)", public_name(base_model))
    done = subprocess.run(
        [sys.executable, "-m", "training", "convert", "--base", "--base-model", base_model],
        capture_output=True, text=True, env={**os.environ, "SWIFTAI_HOME": str(settings.home)})
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RegistryError(f"converting the base model failed: {lines[-1]}")
    return cached


def serving_options(settings: Settings, artist: str) -> list[object]:
    """Return the backend options for one artist: its own model name on the servers."""
    model = settings.inference_models.get(slug(artist), settings.inference_model)
    return [backends.CTranslate2Options(compute_type=settings.ct2_compute_type,
                                        threads=settings.ct2_threads),
            backends.OpenVINOOptions(threads=settings.ov_threads),
            backends.OpenAIOptions(urls=settings.inference_urls,
                                   api_key=settings.inference_api_key, model=model,
                                   timeout=settings.inference_timeout)]


def serving_loader(settings: Settings, artist: str, registry: Registry,
                   runs_served: set[str]) -> tuple[Callable[[], Served], Run | None]:
    """Return a loader for the artist's published run (or the base model before any), and
    that run. The loader notes each run it loads in `runs_served`."""
    options = serving_options(settings, artist)
    run = registry.current()
    if run is None:
        return (lambda: backends.load(settings.serving_backend,
                                      base_source(settings, settings.base_model),
                                      public_name(settings.base_model), options)), None

    def load() -> Served:
        served = backends.load(settings.serving_backend, run.path, run.id, options)
        runs_served.add(run.id)
        return served

    return load, run


@dataclass
class Deployment:
    artist: str  # as configured in SWIFTAI_ARTISTS: what users pick and the log records
    settings: Settings
    registry: Registry  # models/<slug>/
    worker: Worker
    composer: Composer
    retrainer: Retrainer
    run: Run | None  # the published run being served; None while serving the base model
    # Every run this deployment has served: a song's model id is a run id if it is in here
    # (the id of a base model is its name), so the log can say which run wrote it.
    runs_served: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, settings: Settings, artist: str, store: Store,
             song_chars: int = SONG_CHARS) -> Deployment:
        """Find the artist's published run and make its engine, writing whole songs that fit
        `song_chars` characters; the worker is not started.

        Raises RegistryError when the published run cannot be read.
        """
        registry = artist_registry(settings.models_dir, artist)
        runs_served: set[str] = set()
        loader, run = serving_loader(settings, artist, registry, runs_served)
        worker = Worker(loader, max_batch=settings.max_batch,
                        batch_window_ms=settings.batch_window_ms, queue_size=settings.queue_size)
        retrainer = Retrainer(settings.home, settings.base_model, store, settings.retrain_args,
                              artist=artist)
        composer = Composer(worker, candidates=settings.candidates, max_chars=song_chars)
        return cls(artist, settings, registry, worker, composer, retrainer, run, runs_served)

    @property
    def slug(self) -> str:
        """Return the artist's folder name."""
        return slug(self.artist)

    @property
    def remote_model(self) -> str | None:
        """Return the artist's model name on the inference servers (None: the first listed)."""
        return self.settings.inference_models.get(self.slug, self.settings.inference_model)

    def run_id_of(self, model_id: str) -> str | None:
        """Return the run id of a model this deployment served, or None for its base model."""
        return model_id if model_id in self.runs_served else None

    async def reload(self) -> str:
        """Serve the published run (or the base model) anew, loaded beside the old one, which
        keeps serving if it fails; return the model id now served."""
        loader, run = serving_loader(self.settings, self.artist, self.registry, self.runs_served)
        served = await self.worker.reload(loader)
        self.run = run
        return served
