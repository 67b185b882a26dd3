"""/retrain while Genius is down: it says so in one line and the current model keeps serving."""

from tests.bot.conftest import ADMIN_ID
from tests.conftest import ROOT
from tests.training.fake_genius import FakeGenius, FakeSong, Fault


async def test_retrain_with_genius_gone_says_so_and_keeps_the_model(start_bot, monkeypatch,
                                                                     example_songs):
    songs = [FakeSong.from_export(s) for s in example_songs[:8]]
    with FakeGenius("Juniper Vale", songs) as genius:
        genius.fail(f"/api/songs/{songs[1].id}", Fault(stop=True))  # gone after two songs
        for key, value in {"GENIUS_ACCESS_TOKEN": "t", "GENIUS_BASE_URL": genius.base_url,
                           "SWIFTAI_ARTIST": "Juniper Vale", "PYTHONPATH": str(ROOT)}.items():
            monkeypatch.setenv(key, value)
        h = await start_bot(RETRAIN_ARGS="--retries 1 --backoff 0.01",
                            SWIFTAI_ARTIST="Juniper Vale")
        before = h.app.default.worker.stats().model_id
        token = await h.fake.command("retrain", user_id=ADMIN_ID)
        call = await h.fake.wait_for(lambda c: c.token == token and c.method == "PATCH" and (
            c.body.get("content") or "").startswith("❌"), 60)
    text = call.body["content"]
    assert text.startswith("❌ Retrain of Juniper Vale failed; the current model keeps serving.")
    assert ("Genius is unreachable (connection refused, 3 songs in a row); 2 of 8 songs stored, "
            "run fetch again to resume") in text
    assert h.app.default.worker.stats().model_id == before
    async with h.app.store.db.execute("SELECT outcome, error FROM retrains") as cursor:
        [(outcome, error)] = await cursor.fetchall()
    assert outcome == "failed" and error.startswith("Genius is unreachable")
    assert h.app.default.retrainer.state is None  # the next retrain may start
