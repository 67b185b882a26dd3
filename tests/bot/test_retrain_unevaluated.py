"""/retrain whose evaluation fails: the admin gets the training CLI's one line (the run is kept,
and how to finish it), not a traceback; the current model keeps serving."""

from tests.bot.conftest import ADMIN_ID

# A learning rate this high turns the weights into NaN in a few steps: training ends, and
# evaluation finds the validation loss is not a number.
DIVERGING = "--max-steps 6 --block-size 64 --batch-size 4 --learning-rate 1e4 --backoff 0.01"


async def test_a_retrain_whose_evaluation_fails_says_why_in_one_line(start_bot,
                                                                      juniper_on_genius):
    h = await start_bot(RETRAIN_ARGS=DIVERGING, SWIFTAI_ARTIST="Juniper Vale")
    before = h.app.default.worker.stats().model_id
    token = await h.fake.command("retrain", user_id=ADMIN_ID)
    call = await h.fake.wait_for(lambda c: c.token == token and c.method == "PATCH" and (
        c.body.get("content") or "").startswith("❌"), 300)
    text = call.body["content"]
    [run] = h.app.default.registry.runs()
    assert text.startswith("❌ Retrain of Juniper Vale failed; the current model keeps serving.")
    assert "Traceback" not in text
    assert (f"run {run.id} is trained but not evaluated: the fine-tuned model's validation "
            "loss is nan: its weights diverged; train again with a lower --learning-rate "
            "(traceback in ") in text
    assert (f"finish it with `python -m training evaluate {run.id} --artist 'Juniper Vale'`, "
            f"then `python -m training publish {run.id} --artist 'Juniper Vale'`") in text
    assert run.status.describe().startswith("not evaluated: the fine-tuned model's validation")
    assert h.app.default.worker.stats().model_id == before
    async with h.app.store.db.execute("SELECT outcome, error FROM retrains") as cursor:
        [(outcome, error)] = await cursor.fetchall()
    assert outcome == "failed" and error.startswith(f"run {run.id} is trained but not evaluated")
    assert h.app.default.retrainer.state is None  # the next retrain may start
