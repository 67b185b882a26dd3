"""Per-artist registries: folder names, and moving a single-artist home into place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from model.errors import RegistryError
from model.registry.runs import Registry, artist_registry, move_single_artist_home, slug


def make_single_artist_home(models: Path, artist: str | None = None) -> None:
    """Lay out `models/` as the single-artist code did: two runs, one published, its history."""
    for run_id in ("20260101-000000-aaaaaa", "20260102-000000-bbbbbb"):
        run = models / "runs" / run_id
        run.mkdir(parents=True)
        corpus = {"artist": artist} if artist else {}
        (run / "manifest.json").write_text(json.dumps({"run": run_id, "corpus": corpus}))
        (run / "report.md").write_text(f"report of {run_id}\n")
    (models / "history.json").write_text(json.dumps(["20260101-000000-aaaaaa",
                                                     "20260102-000000-bbbbbb"]))
    os.symlink(Path("runs") / "20260102-000000-bbbbbb", models / "current")


def test_slug_folds_case_accents_and_punctuation():
    assert slug("Taylor Swift") == "taylor-swift"
    assert slug("  Beyoncé & Jay-Z ") == "beyonce-jay-z"


@pytest.mark.parametrize("name", ["!!!", "Runs", "current"])
def test_slug_refuses_names_that_make_no_usable_folder(name):
    with pytest.raises(RegistryError, match="artist name"):
        slug(name)


def test_a_single_artist_home_moves_with_every_run_its_history_and_its_link(tmp_path):
    models = tmp_path / "models"
    make_single_artist_home(models)
    assert move_single_artist_home(models, ["Juniper Vale", "Other"]) == models / "juniper-vale"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == \
        ["juniper-vale"]
    registry = artist_registry(models, "Juniper Vale")
    assert [r.id for r in registry.runs()] == ["20260101-000000-aaaaaa", "20260102-000000-bbbbbb"]
    assert registry.current().id == "20260102-000000-bbbbbb"
    assert registry.history() == ["20260101-000000-aaaaaa", "20260102-000000-bbbbbb"]
    assert (registry.current().path / "report.md").read_text() == \
        "report of 20260102-000000-bbbbbb\n"


def test_a_home_whose_run_names_a_served_artist_moves_to_that_artist(tmp_path):
    models = tmp_path / "models"
    make_single_artist_home(models, artist="Other")
    assert move_single_artist_home(models, ["Juniper Vale", "Other"]) == models / "other"
    assert Registry(models / "other").current().id == "20260102-000000-bbbbbb"


def test_a_move_cut_short_by_a_crash_is_finished_on_the_next_start(tmp_path):
    models = tmp_path / "models"
    make_single_artist_home(models)
    staging = models / ".moving-juniper-vale"
    staging.mkdir()
    os.replace(models / "runs", staging / "runs")  # killed after the first of three renames
    assert move_single_artist_home(models, ["Juniper Vale"]) == models / "juniper-vale"
    registry = artist_registry(models, "Juniper Vale")
    assert registry.current().id == "20260102-000000-bbbbbb"
    assert len(registry.runs()) == 2 and len(registry.history()) == 2
    assert not staging.exists()


def test_a_home_already_per_artist_is_left_as_it_is(tmp_path):
    models = tmp_path / "models"
    make_single_artist_home(models / "juniper-vale")
    assert move_single_artist_home(models, ["Juniper Vale"]) is None
    assert move_single_artist_home(tmp_path / "nothing-here", ["Juniper Vale"]) is None
    assert artist_registry(models, "Juniper Vale").current().id == "20260102-000000-bbbbbb"


def test_both_layouts_at_once_are_refused_and_nothing_moves(tmp_path):
    models = tmp_path / "models"
    make_single_artist_home(models)
    make_single_artist_home(models / "juniper-vale")
    with pytest.raises(RegistryError, match="move one of them away by hand"):
        move_single_artist_home(models, ["Juniper Vale"])
    assert Registry(models).current().id == "20260102-000000-bbbbbb"


def test_a_trained_run_killed_while_it_was_evaluated_is_not_evaluated(tmp_path):
    run = tmp_path / "runs" / "20260101-000000-aaaaaa"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run": run.name, "metrics": None}))
    # What a process killed during evaluation leaves: "running", and nobody holds the lock.
    (run / "status.json").write_text(json.dumps({"state": "running", "stage": "evaluate"}))
    status = Registry(tmp_path).run(run.name).status
    assert status.state == "unevaluated"
    assert status.describe() == "not evaluated: interrupted during evaluate"
