"""/status: which artists are served with which run, how well one scored, how busy it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.artists import artist_choices, artist_for
from bot.chat.replies import NO_PINGS

if TYPE_CHECKING:
    from bot.chat.client import SwiftBot


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


class StatusCog(commands.Cog):
    def __init__(self, bot: SwiftBot) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Which model is writing, and how busy")
    @app_commands.describe(artist="whose model (default: this server's artist)")
    async def status(self, interaction: discord.Interaction,
                     artist: app_commands.Range[str, 1, 100] | None = None) -> None:
        app = self.bot.app
        f = await app.status(await artist_for(app, interaction.guild_id, artist))
        embed = discord.Embed(title=f"SwiftAI status: {f['artist']}"[:256], color=0x9B59B6)
        if f["fine_tuned"]:
            model = f"`{f['model']}` (fine-tuned, {_age(f['model_age_s'] or 0)} old)"
            quality = (f"validation perplexity {f['perplexity']} "
                       f"(base model {f['base_perplexity']}); {f['corpus_songs']} songs")
        else:
            model = f"`{f['model']}` (base model, not fine-tuned yet)"
            quality = "no fine-tuned model published yet: an admin can /retrain"
        latency = (f"p50 {f['p50_ms'] / 1000:.1f} s, p95 {f['p95_ms'] / 1000:.1f} s"
                   if f["p50_ms"] is not None else "no songs in the last hour")
        if f["backend"]:
            model += f" on {f['backend']}"
        embed.add_field(name="Model", value=model, inline=False)
        if f["servers"]:  # the openai backend: which inference servers answer
            embed.add_field(name="Inference servers", inline=False, value="\n".join(
                f"{'🟢' if s['up'] else '🔴'} {s['url']}" + (f" ({s['error']})" if s["error"]
                                                          else "") for s in f["servers"])[:1024])
        embed.add_field(name="Quality", value=quality, inline=False)
        if len(f["artists"]) > 1:
            embed.add_field(name="Artists", inline=False, value="\n".join(
                f"{a['artist']}: `{a['run'] or a['model'] or 'loading'}`"
                + ("" if a["run"] else " (base model)")
                for a in f["artists"])[:1024])
        embed.add_field(name="Queue", value=str(f["queue_depth"]))
        embed.add_field(name="Latency (last hour)", value=latency)
        embed.add_field(name="Songs today", value=str(f["generations_today"]))
        embed.add_field(name="Uptime", value=_age(f["uptime_s"]))
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_PINGS)

    @status.autocomplete("artist")
    async def artist_autocomplete(self, interaction: discord.Interaction,
                                  current: str) -> list[app_commands.Choice[str]]:
        return artist_choices(self.bot.app, current)


async def setup(bot: SwiftBot) -> None:
    """Register /status (discord.py calls this from load_extension)."""
    await bot.add_cog(StatusCog(bot))
