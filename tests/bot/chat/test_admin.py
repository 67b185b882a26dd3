"""/retrain and /reload: admin checks, a real (tiny) retrain, a failed one."""

from pathlib import Path

from tests.bot.conftest import ADMIN_ID
from tests.bot.fake_discord import MANAGE_GUILD
from tests.conftest import ROOT
from training.evaluation.evaluate import verdict

TINY_RETRAIN = "--max-steps 20 --block-size 64 --batch-size 4 --learning-rate 1e-3 --backoff 0.01"


async def final_message(h, token, prefix):
    call = await h.fake.wait_for(lambda c: c.token == token and c.method == "PATCH"
                                 and (c.body.get("content") or "").startswith(prefix), 300)
    return call.body["content"]


async def test_retrain_is_refused_for_members_who_are_not_admins(start_bot):
    h = await start_bot()
    answer = await h.reply(await h.fake.command("retrain", user_id=7))
    assert answer["data"]["flags"] == 64 and "only admins" in answer["data"]["content"]
    assert h.app.default.retrainer.state is None


async def test_admin_retrain_trains_publishes_and_serves_the_new_model(start_bot,
                                                                       juniper_on_genius):
    h = await start_bot(RETRAIN_ARGS=TINY_RETRAIN, SWIFTAI_ARTIST="Juniper Vale")
    before = h.app.default.worker.stats().model_id
    token = await h.fake.command("retrain", user_id=ADMIN_ID)
    await h.fake.wait_for(lambda c: c.token == token and c.body.get("type") == 5)
    second = await h.reply(await h.fake.command("retrain", {"refresh": True},
                                                permissions=MANAGE_GUILD, user_id=8))
    assert "already running" in second["data"]["content"]
    assert "started by fan" in second["data"]["content"]
    done = await final_message(h, token, "✅")
    run = h.app.default.registry.current()
    # The first publish is compared with the base model it replaces, on the same songs.
    assert done.startswith(f"✅ Juniper Vale: now serving `{run.id}`: validation perplexity ")
    # ...and says how its songs measured, as `train` does.
    assert done.endswith(f" → {run.metrics['perplexity']:.2f}; {verdict(run.metrics)}")
    assert "; song targets " in done
    assert h.app.default.registry.root.name == "juniper-vale"
    assert h.app.default.worker.stats().model_id == run.id != before
    song = await h.song(await h.fake.command("lyrics", {"prompt": "new model", "album":
                                                        "Harbor Lights"}))
    assert run.id in song["embeds"][0]["footer"]["text"]
    typed = await h.fake.autocomplete("lyrics", {"prompt": "x", "album": "light"}, "album")
    choices = (await h.reply(typed))["data"]["choices"]
    assert choices == [{"name": "Harbor Lights", "value": "Harbor Lights"}]
    async with h.app.store.db.execute(
            "SELECT user_id, artist, outcome, run_id, perplexity_after FROM retrains") as cursor:
        rows = [tuple(r) for r in await cursor.fetchall()]
    assert rows == [(str(ADMIN_ID), "Juniper Vale", "published", run.id, rows[0][4])]
    assert rows[0][4] > 0
    status = await h.reply(await h.fake.command("status"))
    model = status["data"]["embeds"][0]["fields"][0]["value"]
    assert "fine-tuned" in model and "not fine-tuned" not in model


async def test_a_failed_retrain_shows_the_error_and_keeps_the_old_model(start_bot, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    h = await start_bot(RETRAIN_ARGS=TINY_RETRAIN)
    before = h.app.default.worker.stats().model_id
    token = await h.fake.command("retrain", permissions=MANAGE_GUILD, user_id=9)
    text = await final_message(h, token, "❌")
    assert text.startswith("❌ Retrain of Taylor Swift failed; the current model keeps serving")
    assert "GENIUS_ACCESS_TOKEN is not set" in text
    assert h.app.default.worker.stats().model_id == before
    assert (await h.song(await h.fake.command("lyrics", {"prompt": "still here"})))["embeds"]
    async with h.app.store.db.execute("SELECT outcome FROM retrains") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == ["failed"]
    assert h.app.default.retrainer.state is None  # the next retrain may start


async def test_reload_serves_the_published_model_again(start_bot):
    h = await start_bot()
    token = await h.fake.command("reload", user_id=ADMIN_ID)
    text = await final_message(h, token, "✅")
    assert text == f"✅ Taylor Swift: now serving `{Path(h.app.settings.base_model).name}`"
