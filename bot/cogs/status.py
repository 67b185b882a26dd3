"""/status: what model is serving, how well it scored, and how busy the bot is."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import NO_PINGS

if TYPE_CHECKING:
    from bot.app import App
    from bot.client import SwiftBot


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


async def status_facts(app: App) -> dict[str, Any]:
    """Gather what /status (and the web page) show."""
    stats = app.worker.stats()
    run = None
    if stats.model_id:
        try:
            run = app.registry.run(stats.model_id)
        except Exception:
            run = None  # a hub id or folder: the base model
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
    }


class StatusCog(commands.Cog):
    def __init__(self, bot: SwiftBot) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Which model is writing, and how busy")
    async def status(self, interaction: discord.Interaction) -> None:
        f = await status_facts(self.bot.app)
        embed = discord.Embed(title="SwiftAI status", color=0x9B59B6)
        if f["fine_tuned"]:
            model = f"`{f['model']}` (fine-tuned, {_age(f['model_age_s'] or 0)} old)"
            quality = (f"validation perplexity {f['perplexity']} "
                       f"(base model {f['base_perplexity']}); {f['corpus_songs']} songs")
        else:
            model = f"`{f['model']}` (base model, not fine-tuned yet)"
            quality = "no fine-tuned model published yet: an admin can /retrain"
        latency = (f"p50 {f['p50_ms'] / 1000:.1f} s, p95 {f['p95_ms'] / 1000:.1f} s"
                   if f["p50_ms"] is not None else "no songs in the last hour")
        embed.add_field(name="Model", value=model, inline=False)
        embed.add_field(name="Quality", value=quality, inline=False)
        embed.add_field(name="Queue", value=str(f["queue_depth"]))
        embed.add_field(name="Latency (last hour)", value=latency)
        embed.add_field(name="Songs today", value=str(f["generations_today"]))
        embed.add_field(name="Uptime", value=_age(f["uptime_s"]))
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)
