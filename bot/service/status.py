"""What /status and the web page show: each artist's model, how it scored, how busy we are."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App
    from bot.service.deployments import Deployment


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


async def status_facts(app: App, artist: str | None = None) -> dict[str, Any]:
    """Gather the facts of one artist (default: the first), the bot's own, and every artist's
    in `artists`. Raises UnknownArtist for an artist not served."""
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00")
    return {
        **artist_facts(app.deployment(artist)),
        "generations_today": await app.store.count_since(today),
        "uptime_s": time.time() - app.started_at,
        "artists": [artist_facts(d) for d in app.deployments.values()],
        "discord": app.discord.state,  # off (web only), connecting, up or down
    }
