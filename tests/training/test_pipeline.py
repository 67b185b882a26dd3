"""`python -m training run` end to end (fake Genius -> published model) and `generate`."""

import json

from model.registry.runs import Registry
from tests.conftest import EXAMPLE_EXPORT, TINY_TRAIN, artist_models, run_cli
from tests.training.conftest import cli
from tests.training.fake_genius import FakeGenius, FakeSong

ARTIST = "Juniper Vale"


def run_env(home, tiny_base, genius=None):
    env = {"SWIFTAI_HOME": str(home), "BASE_MODEL": str(tiny_base), "SWIFTAI_ARTIST": ARTIST}
    if genius is not None:
        env.update(GENIUS_ACCESS_TOKEN="test-token", GENIUS_BASE_URL=genius.base_url)
    return env


def test_run_goes_from_genius_to_a_published_model(hermetic_env, tiny_base, example_songs):
    songs = [FakeSong.from_export(s) for s in example_songs]
    with FakeGenius(ARTIST, songs) as genius:
        result = run_cli("training", "run", "--max-steps", "30", *TINY_TRAIN, "--progress",
                         "json", "--backoff", "0.01", env=run_env(hermetic_env, tiny_base, genius))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    starts = [r["stage"] for r in records if r.get("event") == "start"]
    assert starts == ["fetch", "corpus", "train", "evaluate", "publish"]
    fetched = next(r for r in records if r["stage"] == "fetch" and "new" in r)
    assert fetched["new"] == 12 and fetched["failed"] == 0
    published = next(r for r in records if r["stage"] == "publish" and "run" in r)
    current = Registry(artist_models(hermetic_env, ARTIST)).current()
    assert current.id == published["run"]
    assert current.metrics["perplexity"] < current.metrics["base_perplexity"]


def test_a_failing_stage_stops_the_run_and_keeps_the_current_model(hermetic_env, tiny_base):
    env = run_env(hermetic_env, tiny_base)
    assert cli(hermetic_env, "import", str(EXAMPLE_EXPORT), **env).returncode == 0
    first = cli(hermetic_env, "run", "--skip-fetch", "--max-steps", "20", *TINY_TRAIN, **env)
    assert first.returncode == 0, first.stderr
    registry = Registry(artist_models(hermetic_env, ARTIST))
    served = registry.current().id

    no_token = cli(hermetic_env, "run", "--max-steps", "20", *TINY_TRAIN, **env)
    assert no_token.returncode == 1 and "error: GENIUS_ACCESS_TOKEN is not set" in no_token.stderr

    bad_base = cli(hermetic_env, "run", "--skip-fetch", "--base-model", "/nope", *TINY_TRAIN,
                   "--progress", "json", **env)
    assert bad_base.returncode == 1
    last = json.loads(bad_base.stdout.splitlines()[-1])
    assert last["stage"] == "error" and "cannot load base model '/nope'" in last["message"]
    assert registry.current().id == served and len(registry.history()) == 1


def test_generate_prints_clean_lyrics_from_the_current_model(hermetic_env, tiny_base):
    env = run_env(hermetic_env, tiny_base)
    assert cli(hermetic_env, "generate", "--prompt", "x", **env).stderr.startswith(
        "error: no model is published yet")
    cli(hermetic_env, "import", str(EXAMPLE_EXPORT), **env)
    trained = cli(hermetic_env, "run", "--skip-fetch", "--max-steps", "30", *TINY_TRAIN, **env)
    assert trained.returncode == 0, trained.stderr
    result = cli(hermetic_env, "generate", "--prompt", "We lit paper lanterns", "--n", "3",
                 "--album", "Harbor Lights", "--lines", "4", "--seed", "1", **env)
    assert result.returncode == 0, result.stderr
    songs = result.stdout.split("--- ")[1:]
    assert len(songs) == 3
    for song in songs:
        text = song.split("\n", 1)[1].strip()
        assert text.startswith("We lit paper lanterns")
        assert "<|" not in text and "endoftext" not in text
        assert len([line for line in text.split("\n") if line and line[0] != "["]) <= 4
    unknown = cli(hermetic_env, "generate", "--prompt", "x", "--album", "Nope", **env)
    assert unknown.returncode == 1 and "does not know album 'Nope'" in unknown.stderr
    assert "Harbor Lights" in unknown.stderr
    song = run_cli("training", "generate", "--prompt", "Harbor lights", "--form", "song",
                   "--seed", "1", env=env)
    assert song.returncode == 0, song.stderr
    assert song.stdout.startswith("[Verse 1]\nHarbor lights") and "[Chorus]" in song.stdout
