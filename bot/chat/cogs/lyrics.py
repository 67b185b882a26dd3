"""/lyrics, /history, the message menu "Write a song from this", and the Again / 👍 / 👎 buttons
under each song. /lyrics, /history and the menu work wherever the app is: in a server that added
it, and, installed to a user's account, in any server, DM or group DM.

Glue only: defer, ask the request service, follow up. Buttons are DynamicItems whose custom_id
carries the generation id, so they keep working after a restart.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.artists import artist_choices, artist_for
from bot.chat.draft import Draft
from bot.chat.quoting import prompt_from
from bot.chat.replies import NO_PINGS, reply, report_error
from bot.chat.rooms import PRIVATE_NOTE, answers_privately, explicit_ok
from bot.errors import UserError
from bot.service.asks import ALBUM_MAX_CHARS, HISTORY, LINES, TEMPERATURE, Who
from bot.service.requests import RequestService, Written
from bot.storage.store import Votes
from model.writing.request import FORMS

if TYPE_CHECKING:
    from bot.chat.client import SwiftBot

T = TypeVar("T")

POSITION_EVERY = 2.0  # seconds between queue position updates
EDIT_EVERY = 1.0  # seconds between edits of one message: Discord's pace for a growing reply
WRITING = "✍️ writing…"  # the footer of a song still being written
FROM_MESSAGE = "Write a song from this"  # the message menu's name (Apps → ...)
# Everywhere a user-installed app can be used; the admin commands stay in servers (admin.py).
ANYWHERE = (app_commands.allowed_installs(guilds=True, users=True),
            app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True))


def anywhere(command: T) -> T:
    """Let a command be used in servers that added the app, and by users who installed it, in
    any server, DM or group DM."""
    for decorate in ANYWHERE:
        command = decorate(command)
    return command


def who_asks(interaction: discord.Interaction, explicit: bool = False) -> Who:
    """Say who is asking, and where, for the request service and the log."""
    return Who(source="discord", user_id=str(interaction.user.id),
               user_name=interaction.user.name,
               guild_id=str(interaction.guild_id) if interaction.guild_id else None,
               channel_id=str(interaction.channel_id) if interaction.channel_id else None,
               explicit_ok=explicit)


def title_of(prompt: str) -> str:
    """Return the prompt as an embed title (Discord allows 256 characters)."""
    return prompt if len(prompt) <= 250 else prompt[:249] + "…"


def song_embed(written: Written) -> discord.Embed:
    """Show lyrics: the prompt as title; artist, model and generation id in the footer."""
    embed = discord.Embed(title=title_of(written.ask.prompt), description=written.result.text,
                          color=0x9B59B6)
    embed.set_footer(text=f"{written.ask.artist} · {written.result.model_id} · "
                          f"#{written.generation_id}"[:2048])
    return embed


def draft_embed(prompt: str, text: str) -> discord.Embed:
    """Show a song still being written: what is written so far, and a footer saying so."""
    embed = discord.Embed(title=title_of(prompt), description=text, color=0x9B59B6)
    embed.set_footer(text=WRITING)
    return embed


def song_view(generation_id: int, votes: Votes) -> discord.ui.View:
    """Build the buttons under a song."""
    view = discord.ui.View(timeout=None)
    view.add_item(AgainButton(generation_id))
    view.add_item(VoteButton(generation_id, 1, votes.up))
    view.add_item(VoteButton(generation_id, -1, votes.down))
    return view


async def write_lyrics(bot: SwiftBot, interaction: discord.Interaction,
                       fields: dict[str, object]) -> None:
    """Queue (refusals answer privately at once), defer, show the position, post the song."""
    service = bot.app.requests
    fields = {**fields, "artist": await artist_for(bot.app, interaction.guild_id,
                                                   fields.get("artist"))}  # type: ignore[arg-type]
    who = who_asks(interaction, await explicit_ok(bot.app, interaction))
    async with service.serving():
        await _write(service, interaction, who, fields)


async def _write(service: RequestService, interaction: discord.Interaction, who: Who,
                 fields: dict[str, object]) -> None:
    """Defer, then edit the reply as the song grows: the queue position while it waits, the
    lines as they are written (at most one edit a second: each edit shows the latest text, so
    edits never queue up behind a fast song), and last the song with its buttons."""
    ask, writing = await service.accept(who, fields)
    private = answers_privately(interaction)  # Discord would make it private anyway: say so
    await interaction.response.defer(thinking=True, ephemeral=private)
    task = asyncio.ensure_future(service.finish(ask, writing))
    draft, grown = Draft(ask.form), asyncio.Event()

    async def follow() -> None:
        async for event in writing.events():
            if draft.add(event):
                grown.set()

    following = asyncio.ensure_future(follow())
    loop = asyncio.get_running_loop()
    edited = -EDIT_EVERY  # loop time of the latest edit
    shown = 1  # "thinking…" already says the first place in line

    async def pause(seconds: float) -> bool:
        """Wait up to `seconds` for news; return True once the song is finished."""
        news = asyncio.ensure_future(grown.wait())
        await asyncio.wait({task, news}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        news.cancel()
        return task.done()

    try:
        wait = 0.0  # the first look at the queue position is at once
        while not await pause(wait):
            wait = POSITION_EVERY
            due = edited + EDIT_EVERY - loop.time()
            if due > 0 and (await asyncio.wait({task}, timeout=due))[0]:
                break
            position = writing.position()
            if grown.is_set():
                grown.clear()  # what is shown next is the whole draft as it is now
                await interaction.edit_original_response(
                    content=None, embed=draft_embed(ask.prompt, draft.text),
                    allowed_mentions=NO_PINGS)
                edited = loop.time()
            elif not draft.text and (position > shown or 0 < position < shown):
                await interaction.edit_original_response(
                    content=f"⏳ In the queue: #{position}", allowed_mentions=NO_PINGS)
                shown, edited = position, loop.time()
        (written,) = task.result()
    finally:
        following.cancel()
    await asyncio.sleep(max(0.0, edited + EDIT_EVERY - loop.time()))
    await interaction.edit_original_response(
        content=PRIVATE_NOTE if private else None, embed=song_embed(written),
        view=song_view(written.generation_id, Votes(0, 0)), allowed_mentions=NO_PINGS)


class AgainButton(discord.ui.DynamicItem[discord.ui.Button], template=r"swiftai:again:(?P<id>\d+)"):
    def __init__(self, generation_id: int) -> None:
        super().__init__(discord.ui.Button(label="Again", emoji="🔁",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"swiftai:again:{generation_id}"))
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: object) -> AgainButton:
        return cls(int(match["id"]))  # type: ignore[index]

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SwiftBot = interaction.client  # type: ignore[assignment]
        try:
            old = await bot.app.store.generation(self.generation_id)
            if old is None:
                await reply(interaction, "that song is no longer stored; use /lyrics")
                return
            await write_lyrics(bot, interaction, {"prompt": old.prompt, "album": old.album,
                                                  "temperature": old.temperature,
                                                  "lines": old.lines, "form": old.form,
                                                  "artist": old.artist})
        except Exception as e:
            await report_error(interaction, e)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"swiftai:vote:(?P<value>up|down):(?P<id>\d+)"):
    def __init__(self, generation_id: int, value: int, count: int = 0) -> None:
        name = "up" if value > 0 else "down"
        super().__init__(discord.ui.Button(label=str(count), emoji="👍" if value > 0 else "👎",
                                           style=discord.ButtonStyle.secondary,
                                           custom_id=f"swiftai:vote:{name}:{generation_id}"))
        self.generation_id = generation_id
        self.value = value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: object) -> VoteButton:
        return cls(int(match["id"]), 1 if match["value"] == "up" else -1)  # type: ignore[index]

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: SwiftBot = interaction.client  # type: ignore[assignment]
        try:
            store = bot.app.store
            if await store.generation(self.generation_id) is None:
                await reply(interaction, "that song is no longer stored")
                return
            votes = await store.vote(self.generation_id, str(interaction.user.id), self.value)
            await interaction.response.edit_message(view=song_view(self.generation_id, votes))
        except Exception as e:
            await report_error(interaction, e)


class LyricsCog(commands.Cog):
    def __init__(self, bot: SwiftBot) -> None:
        self.bot = bot

    @anywhere
    @app_commands.command(name="lyrics", description="Write a song from its first line")
    @app_commands.describe(prompt="the first line of the song",
                           artist="whose style (default: this server's artist)",
                           album="write in the style of this album",
                           temperature=f"{TEMPERATURE[0]} (safe) to {TEMPERATURE[1]} (wild); "
                                       "default 0.9",
                           lines="at most this many lines",
                           form="a verse (default), or a whole song: verses, chorus, bridge")
    @app_commands.choices(form=[app_commands.Choice(name=f, value=f) for f in FORMS])
    async def lyrics(self, interaction: discord.Interaction, prompt: str,
                     album: app_commands.Range[str, 1, ALBUM_MAX_CHARS] | None = None,
                     temperature: app_commands.Range[float, TEMPERATURE[0],
                                                     TEMPERATURE[1]] | None = None,
                     lines: app_commands.Range[int, LINES[0], LINES[1]] | None = None,
                     form: str | None = None,
                     artist: app_commands.Range[str, 1, 100] | None = None) -> None:
        await write_lyrics(self.bot, interaction, {"prompt": prompt, "album": album,
                                                   "temperature": temperature, "lines": lines,
                                                   "form": form, "artist": artist})

    @lyrics.autocomplete("artist")
    async def artist_autocomplete(self, interaction: discord.Interaction,
                                  current: str) -> list[app_commands.Choice[str]]:
        return artist_choices(self.bot.app, current)

    @lyrics.autocomplete("album")
    async def album_choices(self, interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
        app = self.bot.app
        chosen = await artist_for(app, interaction.guild_id,
                                  interaction.namespace.artist)  # None when not typed yet
        try:
            albums = app.deployment(chosen).composer.albums
        except UserError:  # an artist not served: it has no albums to offer
            return []
        matches = [a for a in albums if current.casefold() in a.casefold()]
        return [app_commands.Choice(name=a[:100], value=a[:100]) for a in matches[:25]]

    @anywhere
    @app_commands.command(name="history", description="Your recent songs (only you see this)")
    @app_commands.describe(count="how many (default 5)")
    async def history(self, interaction: discord.Interaction,
                      count: app_commands.Range[int, HISTORY[0], HISTORY[1]] = 5) -> None:
        songs = await self.bot.app.store.history(str(interaction.user.id), count)
        if not songs:
            await reply(interaction, "you have no songs yet: try /lyrics")
            return
        embed = discord.Embed(title="Your recent songs", color=0x9B59B6)
        for song in songs:
            first = (song.output or song.error or "").split("\n")
            text = next((line for line in first[1:] if line and line[0] != "["), first[0])
            embed.add_field(name=f"#{song.id} · {song.created_at[:16].replace('T', ' ')} · "
                                 f"{song.status}"[:256],
                            value=f"**{song.prompt[:200]}**\n{text[:300]}"[:1024], inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True,
                                                allowed_mentions=NO_PINGS)


@anywhere
@app_commands.context_menu(name=FROM_MESSAGE)
async def song_from_message(interaction: discord.Interaction, message: discord.Message) -> None:
    """Write a song from a message's words (its mentions, markup and links left out)."""
    bot: SwiftBot = interaction.client  # type: ignore[assignment]
    prompt = prompt_from(message.content, bot.app.settings.prompt_max_chars)
    if not prompt:
        await reply(interaction, "that message has no words to write a song from")
        return
    await write_lyrics(bot, interaction, {"prompt": prompt})


async def setup(bot: SwiftBot) -> None:
    """Register /lyrics, /history, the message menu and the buttons (discord.py calls this
    from load_extension)."""
    await bot.add_cog(LyricsCog(bot))
    # A cog cannot hold a context menu (discord.py's rule): the tree holds it.
    bot.tree.add_command(song_from_message)
    bot.add_dynamic_items(AgainButton, VoteButton)  # buttons keep working after restarts


async def teardown(bot: SwiftBot) -> None:
    """Take the message menu away with the extension."""
    bot.tree.remove_command(FROM_MESSAGE, type=discord.AppCommandType.message)
