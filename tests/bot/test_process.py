"""`python -m bot` as a process: settings errors, SIGTERM, migrate, export, forget."""

import asyncio
import json
import os
import sys

from bot.storage.store import migration_files
from tests.bot.fake_discord import FakeDiscord
from tests.bot.web.test_web import wait_healthy
from tests.conftest import ROOT, run_cli
from tests.processes import free_port, terminate


def test_missing_and_invalid_settings_are_listed_in_one_line(hermetic_env):
    result = run_cli("bot", env={"ADMIN_USER_IDS": "12,abc", "QUEUE_SIZE": "many"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "ADMIN_USER_IDS='12,abc' has 'abc'" in line
    assert "QUEUE_SIZE='many' is not a whole number" in line


async def test_sigterm_stops_the_bot_cleanly(hermetic_env, tiny_base):
    fake = FakeDiscord()
    await fake.start()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "fake-token",
           "BASE_MODEL": str(tiny_base), "DISCORD_API_BASE": fake.api_base,
           "DISCORD_GATEWAY_URL": fake.gateway_url, "WEB_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        await asyncio.wait_for(fake.connected.wait(), 60)
        await wait_healthy(port)  # until then /lyrics is answered "still loading"
        token = await fake.command("lyrics", {"prompt": "before the end"})
        await fake.wait_for(lambda c: c.token == token and bool(c.body.get("embeds")))
        err = await terminate(process)
    finally:
        if process.returncode is None:
            process.kill()
        await fake.close()
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"stopped" in err
    assert any(c.method == "PUT" and c.path.endswith("/commands") for c in fake.calls)

    exported = run_cli("bot", "export")
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["prompt"], r["votes_up"]) for r in rows] == [("before the end", 0)]
    forgot = run_cli("bot", "forget", "1")
    assert "deleted 1 generations and 0 votes of user 1" in forgot.stdout
    assert run_cli("bot", "export").stdout == ""


def test_migrate_reports_the_schema_version(hermetic_env):
    result = run_cli("bot", "migrate")
    assert result.returncode == 0 and result.stdout.strip().endswith(
        f"schema version {migration_files()[-1][0]}")
    assert (hermetic_env / "swiftai.db").exists()


async def test_sync_pushes_commands_to_one_guild_on_demand(hermetic_env, tiny_base):
    fake = FakeDiscord()
    await fake.start()
    env = {"DISCORD_TOKEN": "fake-token", "BASE_MODEL": str(tiny_base),
           "DISCORD_API_BASE": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url}
    try:
        result = await asyncio.to_thread(run_cli, "bot", "sync", "--guild", "5", env=env)
    finally:
        await fake.close()
    assert result.returncode == 0, result.stderr
    assert "synced 8 commands to guild 5" in result.stdout
    guild_sync = [c for c in fake.calls if c.method == "PUT" and "/guilds/5/commands" in c.path]
    assert {c["name"] for c in guild_sync[0].body} == {"lyrics", "history", "status", "retrain",
                                                      "reload", "artist", "settings",
                                                      "Write a song from this"}
    retrain = next(c for c in guild_sync[0].body if c["name"] == "retrain")
    assert int(retrain["default_member_permissions"]) == 1 << 5  # Manage Server
    artist = next(c for c in guild_sync[0].body if c["name"] == "artist")
    assert int(artist["default_member_permissions"]) == 1 << 5 and artist["dm_permission"] is False
