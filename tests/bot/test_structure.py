"""How the bot's modules fit together: no import cycles, one owner of the retrain slot,
/status facts from the run being served."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from bot.service.retrain import Retrainer, RetrainFailed
from bot.storage.store import Store
from tests.bot.conftest import open_app, publish_tiny_run
from tests.conftest import ROOT


def runtime_imports(path: Path) -> set[str]:
    """Return the bot modules a file imports when it runs (TYPE_CHECKING blocks excluded)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name.startswith("bot.")}


def test_bot_modules_import_each_other_without_cycles():
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts): p
               for p in (ROOT / "bot").rglob("*.py") if p.name != "__init__.py"}
    graph = {name: runtime_imports(path) & modules.keys() for name, path in modules.items()}
    assert "bot.chat.client" not in set().union(*(graph[m] for m in graph if ".cogs." in m))
    done: set[str] = set()

    def walk(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"import cycle: {' -> '.join((*trail, name))}"
        if name in done:
            return
        for imported in graph[name]:
            walk(imported, (*trail, name))
        done.add(name)

    for name in graph:
        walk(name, ())


async def test_an_error_other_than_a_failed_run_still_frees_the_slot_and_fails_the_row(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    store = await Store.open(tmp_path / "db.sqlite")
    retrainer = Retrainer(tmp_path / "home", "gpt2", store)

    async def progress_that_breaks(state):
        raise ConnectionError("Discord went away")

    async def never_serve():
        raise AssertionError("a failed run is never served")

    with pytest.raises(ConnectionError), retrainer.claim("fan"):
        await retrainer.run("7", False, progress_that_breaks, never_serve)
    assert retrainer.state is None
    async with store.db.execute("SELECT user_id, outcome, error FROM retrains") as cursor:
        rows = [tuple(r) for r in await cursor.fetchall()]
    assert rows == [("7", "failed", "ConnectionError: Discord went away")]
    await store.close()


def test_a_forced_retrain_asks_training_to_publish_even_a_worse_run(tmp_path):
    retrainer = Retrainer(tmp_path / "home", "gpt2", None, ("--epochs", "1"))  # type: ignore
    assert retrainer.command(refresh=False)[-3:] == ["json", "--epochs", "1"]
    assert retrainer.command(refresh=True, force=True)[-2:] == ["--refresh", "--force"]


async def test_a_failed_run_is_logged_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    store = await Store.open(tmp_path / "db.sqlite")
    retrainer = Retrainer(tmp_path / "home", "gpt2", store)

    async def progress(state):
        pass

    with pytest.raises(RetrainFailed, match="GENIUS_ACCESS_TOKEN"), retrainer.claim("fan"):
        await retrainer.run("7", False, progress, progress)
    async with store.db.execute("SELECT outcome, error, finished_at FROM retrains") as cursor:
        outcome, error, finished = await cursor.fetchone()
    assert outcome == "failed" and "GENIUS_ACCESS_TOKEN" in error and finished
    await store.close()


async def test_status_describes_the_served_run_even_if_its_files_change_later(tmp_path,
                                                                               tiny_base):
    from swiftai.settings import Settings

    run = publish_tiny_run(tmp_path / "home", tiny_base)
    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "home"),
                                  "BASE_MODEL": str(tiny_base)})
    app = await open_app(settings, start_worker=True)
    try:
        (run / "manifest.json").write_text("{ not json")  # damaged after it was loaded
        facts = await app.status()
        assert facts["fine_tuned"] is True and facts["model"] == run.name
        assert (facts["perplexity"], facts["corpus_songs"]) == (12.5, 12)
    finally:
        await app.close(timeout=10)
    shutil.rmtree(run)



def test_a_retrain_on_remote_servers_says_what_the_operator_does_next():
    from bot.service.retrain import RetrainResult, done_message

    result = RetrainResult("20261128-abc", 8.91, 11.7, served="20261128-abc")
    assert done_message(result, "Juniper Vale", None) == (
        "✅ Juniper Vale: now serving `20261128-abc`: validation perplexity 11.70 → 8.91")
    remote = done_message(result, "Juniper Vale", "jv-lora")
    assert remote.startswith("✅ Juniper Vale: published `20261128-abc` (validation perplexity "
                             "11.70 → 8.91) into `$SWIFTAI_HOME/models/juniper-vale/current`")
    assert "--lora-modules jv-lora=$SWIFTAI_HOME/models/juniper-vale/current" in remote
    assert "--served-model-name jv-lora" in remote and "/reload artist:Juniper Vale" in remote
    said = "song targets missed: rhyme_rate; can't tell 0.66 (target at most 0.70)"
    measured = RetrainResult("20261128-abc", 8.91, 11.7, served="20261128-abc", verdict=said)
    assert done_message(measured, "Juniper Vale", None) == (
        "✅ Juniper Vale: now serving `20261128-abc`: validation perplexity 11.70 → 8.91; "
        "song targets missed: rhyme_rate; can't tell 0.66 (target at most 0.70)")
