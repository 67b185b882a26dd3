"""The model commands of the CLI work on one artist's registry: `--artist`, else SWIFTAI_ARTIST."""

import json

from model.registry.runs import Registry
from tests.conftest import artist_models
from tests.training.conftest import cli, copy_runs
from training.release.publish import publish


def test_each_artist_publishes_lists_and_rolls_back_in_its_own_registry(hermetic_env, trained):
    juniper = Registry(artist_models(hermetic_env, "Juniper Vale"))
    other = Registry(artist_models(hermetic_env, "Marlow Keys"))
    copy_runs(juniper, trained, "good", "poor")
    copy_runs(other, trained, "poor")
    # `poor` is worse than its base model: a first publish needs --force
    assert cli(hermetic_env, "publish", "poor", "--artist", "Juniper Vale",
               "--force").returncode == 0
    published = cli(hermetic_env, "publish", "good", "--artist", "Juniper Vale")
    assert published.returncode == 0, published.stderr
    assert cli(hermetic_env, "publish", "poor", "--artist", "Marlow Keys",
               "--force").returncode == 0
    assert juniper.current().id == "good" and other.current().id == "poor"
    assert juniper.history() == ["poor", "good"] and other.history() == ["poor"]

    listing = cli(hermetic_env, "models", "--artist", "Marlow Keys").stdout.splitlines()
    assert [line.split()[:2] for line in listing] == [["*", "poor"]]
    assert cli(hermetic_env, "rollback", "--artist", "Juniper Vale").returncode == 0
    assert juniper.current().id == "poor" and other.current().id == "poor"
    refused = cli(hermetic_env, "rollback", "--artist", "Marlow Keys")
    assert refused.returncode == 1 and "only model ever published" in refused.stderr


def test_without_artist_commands_use_swiftai_artist(hermetic_env, trained):
    copy_runs(Registry(artist_models(hermetic_env, "Juniper Vale")), trained, "good")
    assert cli(hermetic_env, "publish", "good").returncode == 1  # Taylor Swift has no such run
    assert cli(hermetic_env, "publish", "good", SWIFTAI_ARTIST="Juniper Vale").returncode == 0
    assert Registry(artist_models(hermetic_env, "Juniper Vale")).current().id == "good"


def test_a_single_artist_home_is_moved_into_place_by_the_first_command(hermetic_env, trained):
    old = Registry(hermetic_env / "models")  # the layout before artists had folders
    copy_runs(old, trained, "good", "poor")
    publish(old, "poor", force=True)  # worse than its base: forced, as today's code would
    assert (hermetic_env / "models" / "current").is_symlink()

    listing = cli(hermetic_env, "models", SWIFTAI_ARTIST="Juniper Vale")
    assert "moved the single-artist model registry to" in listing.stderr
    assert [line.split()[:2] for line in listing.stdout.splitlines()] == [
        ["good", "perplexity"], ["*", "poor"]]
    moved = Registry(artist_models(hermetic_env, "Juniper Vale"))
    assert moved.current().id == "poor" and moved.history() == ["poor"]
    assert json.loads((moved.root / "history.json").read_text()) == ["poor"]
    assert cli(hermetic_env, "publish", "good", SWIFTAI_ARTIST="Juniper Vale").returncode == 0
    assert cli(hermetic_env, "rollback", SWIFTAI_ARTIST="Juniper Vale").returncode == 0
    assert moved.current().id == "poor"  # its history came along: rollback still works
