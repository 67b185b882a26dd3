"""`python -m bot`: serve Discord and the web page; also sync, invite, migrate, export, feedback,
forget."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.chat import limits
from bot.errors import CannotStart
from bot.storage.feedback import FeedbackError
from bot.storage.lock import hold_home
from bot.storage.store import StoreError
from model.errors import RegistryError
from swiftai.logs import one_line, route_library_logs
from swiftai.settings import ConfigError, Settings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot")
FEEDBACK_DIR = "feedback"  # in SWIFTAI_HOME: where `training feedback` keeps the exports
STOP_TIMEOUT = 30.0  # seconds songs in progress get to finish on SIGTERM (docker stop -t 45)


async def serve(settings: Settings) -> int:
    """Serve the web page, and Discord when a token is set, until SIGTERM/SIGINT; then finish
    the songs in progress and close cleanly. A failure to start raises CannotStart, after
    closing whatever was already open."""
    from bot.app import App
    from bot.chat.client import SwiftBot, point_at
    from bot.chat.link import Link, OneLineErrors
    from bot.web.routes import start_web

    for handler in logging.getLogger().handlers:
        handler.addFilter(OneLineErrors())
    route_library_logs()  # transformers and huggingface_hub are imported by now
    hold_home(settings.home, settings.shard_ids)  # held until the process exits
    app = await App.open(settings, start_worker=False,  # loading starts once we can listen
                         song_chars=limits.SONG_CHARS)
    runner = link = None
    waits: set[asyncio.Task[object]] = set()
    try:
        try:
            runner, port = await start_web(app, settings.web_host, settings.web_port)
        except OSError as e:
            raise CannotStart(f"cannot serve the web page on {settings.web_host}:"
                              f"{settings.web_port}: {e.strerror}; set WEB_PORT to a free port "
                              "(or WEB_HOST to an address of this machine)") from e
        log.info("web page at http://%s:%d/ (songs once the model is loaded)",
                 settings.web_host, port)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        reloads: set[asyncio.Task[None]] = set()  # held here: the loop keeps only weak refs
        loop.add_signal_handler(signal.SIGHUP, lambda: _start_reload(app, reloads))
        waits.add(asyncio.create_task(stopping.wait()))
        if settings.discord_token:
            # Discord unreachable is retried in the background; the web page serves meanwhile.
            point_at(settings.discord_api_base, settings.discord_gateway_url)
            link = Link(lambda: SwiftBot(app), settings.discord_token, app.discord)
            waits.add(asyncio.create_task(link.run()))
        else:
            log.info("no DISCORD_TOKEN: serving the web page only")
        app.start()
        loading = asyncio.create_task(app.ready())
        waits.add(loading)
        while True:
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if loading in done and loading.exception() is not None:
                raise CannotStart(load_failure(settings, loading.exception()))
            for task in done - {loading}:
                task.result()  # a token Discord refused says so here (CannotStart)
            if done - {loading}:
                break  # a stop signal
            # loaded: keep serving until a stop signal
        log.info("shutting down: finishing songs in progress")
    finally:
        # Still listening and connected while draining: every answer reaches its person, and
        # what arrives meanwhile is told "shutting down". The log is closed last.
        await app.drain(STOP_TIMEOUT)
        if runner is not None:
            await runner.cleanup()
        if link is not None:
            await link.close()
        for task in waits:
            task.cancel()  # a retry waiting its turn
        await app.close()
    log.info("stopped")
    return 0


def _start_reload(app: App, reloads: set[asyncio.Task[None]]) -> None:
    """On SIGHUP (systemctl reload): serve the published model anew, as /reload does."""
    task = asyncio.create_task(_reload(app))
    reloads.add(task)
    task.add_done_callback(reloads.discard)


async def _reload(app: App) -> None:
    log.info("SIGHUP: loading the published models again")
    for artist in app.deployments:
        try:
            served = await app.reload(artist)
        except Exception as e:  # whatever the loader raised, the old model keeps serving
            log.error("SIGHUP: could not reload %s (%s); still serving the old model",
                      artist, one_line(e, typed=True))
            continue
        log.info("SIGHUP: %s now serves %s", artist, served)


def load_failure(settings: Settings, failure: BaseException | None) -> str:
    """Say in one line whose model did not load (a LoadFailed), why, and what to do."""
    from bot.app import LoadFailed

    assert isinstance(failure, LoadFailed), failure
    deployment, error = failure.deployment, failure.error
    reason = one_line(error)
    artist = shlex.quote(deployment.artist)
    if deployment.run is not None:
        run = deployment.run
        return (f"could not load the published run {run.id} of {deployment.artist} "
                f"({run.path}): {reason}; roll back (python -m training rollback --artist "
                f"{artist}) or publish another run")
    if isinstance(error, RegistryError):  # the engine's own words already say what to do
        return f"could not load BASE_MODEL={settings.base_model}: {reason}"
    return (f"could not load BASE_MODEL={settings.base_model}: {reason}; BASE_MODEL may be a "
            "hub id (reachable from here) or a local folder saved with save_pretrained; or "
            f"publish a fine-tuned run (python -m training run --artist {artist})")


async def sync_commands(settings: Settings, guild: int | None) -> int:
    """Push the slash command definitions to Discord now."""
    import discord

    from bot.app import App
    from bot.chat.client import COMMANDS_HASH, SwiftBot, point_at

    if not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set")
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    app = await App.open(settings, start_worker=False,  # no model needed to sync
                         song_chars=limits.SONG_CHARS)
    bot = SwiftBot(app)
    try:
        await bot.login(settings.discord_token)  # runs setup_hook: the cogs are registered
        if bot.failed_extensions:  # syncing now would delete their commands from Discord
            raise CannotStart(f"not syncing: {', '.join(bot.failed_extensions)} failed to "
                              "load (the log above says why)")
        if guild:
            target = discord.Object(id=guild)
            bot.tree.copy_global_to(guild=target)
            synced = await bot.tree.sync(guild=target)
        else:
            synced = await bot.tree.sync()
            await app.store.set_meta(COMMANDS_HASH, bot.commands_hash())
        print(f"synced {len(synced)} commands" + (f" to guild {guild}" if guild else ""))
    finally:
        await bot.close()
        await app.close()
    return 0


async def migrate_db(settings: Settings) -> int:
    """Apply pending migrations (never under a running bot: it would lose its schema)."""
    from bot.storage.store import Store

    hold_home(settings.home)
    store = await Store.open(settings.database)
    async with store.db.execute("PRAGMA user_version") as cursor:
        (version,) = await cursor.fetchone()  # type: ignore[misc]
    await store.close()
    print(f"{settings.database}: schema version {version}")
    return 0


async def export_generations(settings: Settings, since: str | None, out: Path | None) -> int:
    """Write generations with their votes as JSON lines."""
    from bot.storage.store import Store

    store = await Store.open(settings.database)
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    count = 0
    try:
        async for row in store.export(since):
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out:
            stream.close()
        await store.close()
    print(f"exported {count} generations", file=sys.stderr)
    return 0


async def export_feedback(settings: Settings, artist: str, out: Path) -> int:
    """Write the voted songs as the feedback file for training; print the counts."""
    from bot.storage.feedback import export_feedback

    counts = await export_feedback(settings.database, artist, out)
    print(f"exported {counts.liked + counts.disliked} voted songs of {artist} to {out}: "
          f"{counts.liked} liked (label true), {counts.disliked} disliked (label false); "
          f"left out: {counts.ties} ties, {counts.without_candidates} logged without "
          "candidates")
    return 0


async def forget_user(settings: Settings, user_id: str) -> int:
    """Delete one user's generations and votes, and the feedback files made with them."""
    from bot.storage.store import Store

    store = await Store.open(settings.database)
    generations, votes = await store.forget_user(user_id)
    await store.close()
    # Feedback files hold votes (counted into each song's label) and songs: made again from
    # the log at the next `training feedback`, without this user's.
    stale = sorted((settings.home / FEEDBACK_DIR).glob("*.jsonl"))
    for path in stale:
        path.unlink(missing_ok=True)
    print(f"deleted {generations} generations and {votes} votes of user {user_id}"
          + (f", and {len(stale)} feedback files made before" if stale else ""))
    return 0


def print_invite(settings: Settings) -> int:
    """Print the links that add the bot to a server and install the app to an account."""
    from bot.chat.invite import PORTAL, invite_url, user_install_url

    print(f"add to a server:     {invite_url(settings)}")
    print(f"add to your account: {user_install_url(settings)}")
    print(f"(both need: {PORTAL})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="serve the web page, and Discord if DISCORD_TOKEN is set "
                   "(the default)")
    sync = sub.add_parser("sync", help="push slash command definitions to Discord now")
    sync.add_argument("--guild", type=int, help="sync to one server only (instant, for testing)")
    sub.add_parser("invite", help="print the links that add the bot to a server and the "
                   "app to a user's account")
    sub.add_parser("migrate", help="apply pending database migrations")
    export = sub.add_parser("export", help="write generations with votes as JSON lines")
    export.add_argument("--since", help="ISO date or time, e.g. 2026-11-01")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    feedback = sub.add_parser("feedback", help="write the voted songs, their features and "
                              "ranking steps, as JSON lines for training")
    feedback.add_argument("--artist", required=True, help="the artist whose songs to export")
    feedback.add_argument("--out", type=Path, required=True, help="file to write (atomically)")
    forget = sub.add_parser("forget", help="delete one user's generations and votes")
    forget.add_argument("user_id", help="Discord user id (or web client key)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; configuration errors are one line and exit status 1."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load()  # the environment, then .env in the working folder
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for noisy in ("discord.gateway", "discord.client", "discord.http", "httpx", "httpx2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        command = args.command or "run"
        if command == "run":
            return asyncio.run(serve(settings))
        if command == "sync":
            return asyncio.run(sync_commands(settings, args.guild))
        if command == "invite":
            return print_invite(settings)
        if command == "migrate":
            return asyncio.run(migrate_db(settings))
        if command == "export":
            return asyncio.run(export_generations(settings, args.since, args.out))
        if command == "feedback":
            return asyncio.run(export_feedback(settings, args.artist, args.out))
        return asyncio.run(forget_user(settings, args.user_id))
    except (ConfigError, CannotStart, StoreError, FeedbackError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
