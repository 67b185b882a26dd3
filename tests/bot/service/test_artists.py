"""Two artists served side by side by one bot: Discord servers with different defaults, the web
with `artist`, retrains and reloads one artist at a time, and a single-artist home moved in."""

import asyncio
import threading

import aiosqlite

from bot.storage.store import MIGRATIONS, migrate
from model.serving import backends
from swiftai.settings import Settings
from tests.bot.conftest import ADMIN_ID, call, open_app, publish_tiny_run
from tests.bot.fake_discord import OTHER_GUILD_ID
from tests.conftest import artist_models

JUNIPER, MARLOW = "Juniper Vale", "Marlow Keys"
TWO = {"SWIFTAI_ARTISTS": f"{JUNIPER}, {MARLOW}"}
RUN_A, RUN_B = "20260101-000000-aaaaaa", "20260102-000000-bbbbbb"


def publish_both(home, tiny_base, tiny_second) -> None:
    """Publish one tiny model for each artist, each in its own registry."""
    publish_tiny_run(home, tiny_base, RUN_A, artist=JUNIPER)
    publish_tiny_run(home, tiny_second, RUN_B, perplexity=20.0, artist=MARLOW)


def footer(song: dict) -> str:
    return song["embeds"][0]["footer"]["text"]


async def test_two_servers_with_different_defaults_get_their_own_artists_models(
        start_bot, tmp_path, tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    refused = await h.reply(await h.fake.command("artist", {"default": MARLOW}, user_id=7,
                                                 guild_id=OTHER_GUILD_ID))
    assert "only admins" in refused["data"]["content"]
    chosen = await h.reply(await h.fake.command("artist", {"default": "marlow keys"},
                                                user_id=ADMIN_ID, guild_id=OTHER_GUILD_ID))
    assert chosen["data"]["content"] == f"✅ /lyrics now writes as {MARLOW} on this server"

    first = await h.song(await h.fake.command("lyrics", {"prompt": "paper lanterns"}))
    other = await h.song(await h.fake.command("lyrics", {"prompt": "paper lanterns"},
                                              guild_id=OTHER_GUILD_ID))
    picked = await h.song(await h.fake.command("lyrics", {"prompt": "paper lanterns",
                                                          "artist": JUNIPER},
                                               guild_id=OTHER_GUILD_ID))
    assert footer(first) == f"{JUNIPER} · {RUN_A} · #1"
    assert footer(other) == f"{MARLOW} · {RUN_B} · #2"
    assert footer(picked) == f"{JUNIPER} · {RUN_A} · #3"
    rows = [await h.app.store.generation(i) for i in (1, 2, 3)]
    assert [(r.artist, r.run_id, r.model_id) for r in rows] == [
        (JUNIPER, RUN_A, RUN_A), (MARLOW, RUN_B, RUN_B), (JUNIPER, RUN_A, RUN_A)]
    shown = await h.reply(await h.fake.command("artist", user_id=ADMIN_ID,
                                               guild_id=OTHER_GUILD_ID))
    assert shown["data"]["content"].startswith(f"this server's default artist is {MARLOW}")


async def test_an_unknown_artist_is_refused_naming_the_served_ones(start_bot, tmp_path,
                                                                   tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    answer = await h.reply(await h.fake.command("lyrics", {"prompt": "hi", "artist": "Nobody"}))
    assert answer["data"]["flags"] == 64
    assert answer["data"]["content"] == (f"unknown artist 'Nobody'; this bot writes as "
                                         f"{JUNIPER}, {MARLOW}")
    row = await h.app.store.generation(1)
    assert (row.status, row.artist) == ("rejected", None)
    default = await h.reply(await h.fake.command("artist", {"default": "Nobody"},
                                                 user_id=ADMIN_ID))
    assert "unknown artist 'Nobody'" in default["data"]["content"]
    assert await h.app.store.guild_artist("2000") is None


async def test_artist_autocomplete_offers_the_served_artists_that_match(start_bot, tmp_path,
                                                                        tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    typed = await h.fake.autocomplete("lyrics", {"prompt": "x", "artist": "vale"}, "artist")
    assert (await h.reply(typed))["data"]["choices"] == [{"name": JUNIPER, "value": JUNIPER}]
    every = await h.fake.autocomplete("retrain", {"artist": ""}, "artist")
    assert [c["value"] for c in (await h.reply(every))["data"]["choices"]] == [JUNIPER, MARLOW]


async def test_status_shows_the_artist_asked_for_and_lists_every_artists_run(
        start_bot, tmp_path, tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    embed = (await h.reply(await h.fake.command("status", {"artist": MARLOW})))["data"]["embeds"][0]
    assert embed["title"] == f"SwiftAI status: {MARLOW}"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert RUN_B in fields["Model"] and "perplexity 20.0" in fields["Quality"]
    assert fields["Artists"] == f"{JUNIPER}: `{RUN_A}`\n{MARLOW}: `{RUN_B}`"


async def test_one_artist_retrains_at_a_time_and_the_others_keep_serving(
        start_bot, tmp_path, tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    juniper, marlow = h.app.deployments[JUNIPER], h.app.deployments[MARLOW]
    with juniper.retrainer.claim("fan"):  # a retrain of Juniper Vale under way
        busy = await h.reply(await h.fake.command("retrain", {"artist": JUNIPER},
                                                  user_id=ADMIN_ID))
        assert f"a retrain of {JUNIPER} started by fan is already running" in \
            busy["data"]["content"]
        # Marlow Keys may retrain meanwhile (it fails here: no Genius token), and keeps serving.
        token = await h.fake.command("retrain", {"artist": MARLOW}, user_id=ADMIN_ID)
        failed = await h.fake.wait_for(lambda c: c.token == token and c.method == "PATCH" and (
            c.body.get("content") or "").startswith("❌"), 60)
        assert failed.body["content"].startswith(f"❌ Retrain of {MARLOW} failed")
        song = await h.song(await h.fake.command("lyrics", {"prompt": "still", "artist": MARLOW}))
        assert footer(song).startswith(f"{MARLOW} · {RUN_B}")
    assert marlow.retrainer.state is None and juniper.retrainer.state is None


async def test_while_one_artist_loads_a_new_model_the_other_keeps_writing(
        start_bot, tmp_path, tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    h = await start_bot(**TWO)
    release = threading.Event()

    def slow_load():  # a load that takes as long as the test says
        release.wait(60)
        return backends.load("transformers", tiny_second, "marlow-next")

    swap = asyncio.ensure_future(h.app.deployments[MARLOW].worker.reload(slow_load))
    juniper = await h.song(await h.fake.command("lyrics", {"prompt": "meanwhile"}))
    marlow = await h.song(await h.fake.command("lyrics", {"prompt": "old", "artist": MARLOW}))
    assert footer(juniper).startswith(f"{JUNIPER} · {RUN_A}")
    assert footer(marlow).startswith(f"{MARLOW} · {RUN_B}")  # its old model until the swap
    assert not swap.done()
    release.set()
    assert await swap == "marlow-next"


async def test_the_web_writes_as_the_artist_asked_and_lists_every_artist(
        serve_web, tmp_path, tiny_base, tiny_second):
    publish_both(tmp_path / "home", tiny_base, tiny_second)
    base, app = await serve_web(**TWO)
    status, data, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "lanterns"})
    assert status == 200 and (data["songs"][0]["artist"], data["songs"][0]["model"]) == \
        (JUNIPER, RUN_A)  # the first artist configured
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "lanterns", "artist": "marlow-keys"})
    assert status == 200 and (data["songs"][0]["artist"], data["songs"][0]["model"]) == \
        (MARLOW, RUN_B)
    status, data, _ = await call("GET", f"{base}/api/songwrite",
                                 params={"prompt": "lanterns", "artist": MARLOW})
    assert status == 200 and data["songs"][0]["model"] == RUN_B and len(data["lyrics"]) == 1
    assert [(r.artist, r.run_id) for r in [await app.store.generation(i) for i in (1, 2, 3)]] \
        == [(JUNIPER, RUN_A), (MARLOW, RUN_B), (MARLOW, RUN_B)]

    for method, kwargs in (("POST", {"json": {"prompt": "x", "artist": "Nobody"}}),
                           ("GET", {"params": {"prompt": "x", "artist": "Nobody"}})):
        path = "/api/lyrics" if method == "POST" else "/api/songwrite"
        status, data, _ = await call(method, base + path, **kwargs)
        assert status == 400 and data["error"] == (f"unknown artist 'Nobody'; this bot writes "
                                                   f"as {JUNIPER}, {MARLOW}")

    status, facts, _ = await call("GET", f"{base}/api/status")
    assert status == 200 and facts["artist"] == JUNIPER and facts["run"] == RUN_A
    assert [(a["artist"], a["run"], a["perplexity"]) for a in facts["artists"]] == [
        (JUNIPER, RUN_A, 12.5), (MARLOW, RUN_B, 20.0)]
    assert (await call("GET", f"{base}/api/status", params={"artist": MARLOW}))[1]["run"] == RUN_B
    assert (await call("GET", f"{base}/api/status", params={"artist": "Nobody"}))[0] == 400
    status, health, _ = await call("GET", f"{base}/healthz")
    assert status == 200 and health["models"] == {JUNIPER: RUN_A, MARLOW: RUN_B}


async def test_a_single_artist_home_is_moved_in_with_its_run_history_and_log(
        tmp_path, tiny_base):
    home = tmp_path / "home"
    # A home as the single-artist code left it: models/{runs,current,history.json} and a
    # schema-3 log with a song the run wrote.
    old = publish_tiny_run(home, tiny_base, RUN_A, artist=None)
    publish_tiny_run(home, tiny_base, RUN_B, artist=None)
    (home / "models" / "history.json").write_text(f'["{RUN_A}", "{RUN_B}"]')
    async with aiosqlite.connect(home / "swiftai.db") as db:
        await migrate(db, MIGRATIONS, target=3)
        await db.execute("INSERT INTO generations (source, user_id, prompt, status, model_id) "
                         "VALUES ('web', 'u', 'from before', 'ok', ?)", (RUN_B,))
        await db.commit()

    settings = Settings.from_env({"SWIFTAI_HOME": str(home), "BASE_MODEL": str(tiny_base),
                                  "BATCH_WINDOW_MS": "5", **TWO})
    app = await open_app(settings, start_worker=True)
    try:
        juniper, marlow = app.deployments[JUNIPER], app.deployments[MARLOW]
        assert juniper.registry.root == artist_models(home, JUNIPER)
        assert juniper.run.id == RUN_B and juniper.worker.stats().model_id == RUN_B
        assert juniper.registry.history() == [RUN_A, RUN_B]
        assert [r.id for r in juniper.registry.runs()] == [old.name, RUN_B]
        assert marlow.run is None and marlow.worker.stats().model_id == tiny_base.name
        kept = await app.store.generation(1)
        assert (kept.prompt, kept.artist, kept.run_id) == ("from before", JUNIPER, RUN_B)
        assert sorted(p.name for p in (home / "models").iterdir()
                      if not p.name.startswith(".")) == ["juniper-vale"]
    finally:
        await app.close(timeout=10)
