"""What /status and the web page show: each artist's model, how it scored, how busy it is;
and the state of the link to Discord (kept by the chat's link, read by the web and /status)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.service.deployments import Deployment


@dataclass
class LinkState:
    """What the web and /status say about Discord."""

    state: str = "off"  # off (no DISCORD_TOKEN), connecting, up, down
    since: float = field(default_factory=time.time)
    tries: int = 0  # failed tries since the link was last up

    def set(self, state: str) -> None:
        """Enter `state`, noting when."""
        if state != self.state:
            self.state, self.since = state, time.time()


def artist_facts(deployment: Deployment) -> dict[str, Any]:
    """Gather one artist's facts, from the run it serves (None: the base model)."""
    stats = deployment.worker.stats()
    run = deployment.run
    served = deployment.worker.served
    manifest = (run.manifest or {}) if run else {}
    counts = (manifest.get("corpus") or {}).get("counts") or {}
    created = manifest.get("created")
    return {
        "artist": deployment.artist,
        "run": run.id if run else None,
        "model": stats.model_id,
        "fine_tuned": run is not None,
        "model_age_s": (time.time() - datetime.fromisoformat(created).timestamp())
        if created else None,
        "corpus_songs": (counts.get("train", 0) + counts.get("val", 0)) if counts else None,
        "perplexity": run.metrics.get("perplexity") if run else None,
        "base_perplexity": run.metrics.get("base_perplexity") if run else None,
        "queue_depth": stats.queue_depth,
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "loaded": deployment.worker.loaded,
        "backend": served.info.backend if served else None,
        "servers": served.backend.status() if served else None,  # a remote one's servers
        "albums": deployment.composer.albums,
    }
