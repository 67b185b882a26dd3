"""What /status and the web page show: the model being served, how it scored, how busy we are."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App


async def status_facts(app: App) -> dict[str, Any]:
    """Gather the facts, from the run the app serves (None: the base model)."""
    stats = app.worker.stats()
    run = app.run
    served = app.worker.served
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00")
    manifest = (run.manifest or {}) if run else {}
    counts = (manifest.get("corpus") or {}).get("counts") or {}
    created = manifest.get("created")
    return {
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
        "generations_today": await app.store.count_since(today),
        "uptime_s": time.time() - app.started_at,
        "loaded": app.worker.loaded,
        "backend": served.info.backend if served else None,
        "servers": served.backend.status() if served else None,  # a remote one's servers
    }
