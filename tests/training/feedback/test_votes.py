"""Votes for training: the feedback file and its checks, and the ranking weights fitted from it.

The votes come from real generations of the tiny model, voted by simulated listeners who like
songs whose lines are about the artist's length (see the `voted` fixture)."""

import json
import shutil

import pytest

from model.registry.runs import Registry
from tests.conftest import artist_models
from tests.training.conftest import cli, copy_runs
from training.feedback import ranker
from training.feedback.votes import FEATURES, read_votes, split_votes
from training.release.publish import publish

BAD_ROWS = [
    "{not json",
    json.dumps({"generation_id": 901, "artist": "Juniper Vale"}),  # most fields missing
    None,  # filled in below: a good row whose label disagrees with its votes
    None,  # a tie
    None,  # a candidate index past the candidates
    None,  # another artist's song
]


def _broken(rows):
    """Return bad rows made from good ones, one fault each, with fresh ids."""
    good = rows[0]
    wrong_label = {**good, "generation_id": 902, "label": not good["label"]}
    tie = {**good, "generation_id": 903, "up": 2, "down": 2}
    step = {**good["steps"][0], "kept": 7}
    bad_step = {**good, "generation_id": 904, "steps": [step]}
    other = {**good, "generation_id": 905, "artist": "Someone Else"}
    return [BAD_ROWS[0], BAD_ROWS[1], *(json.dumps(r) for r in (wrong_label, tie, bad_step,
                                                                  other)),
            json.dumps(good)]  # the last repeats a generation id


def test_feedback_file_counts_labels_and_candidates_and_skips_bad_rows(voted, tmp_path):
    source = tmp_path / "export.jsonl"
    lines = voted.path.read_text().splitlines()
    source.write_text("\n".join([*lines, *_broken(voted.rows)]) + "\n")
    home = tmp_path / "home"

    result = cli(home, "feedback", "--artist", "Juniper Vale", "--file", str(source))

    assert result.returncode == 0, result.stderr
    up = sum(r["label"] for r in voted.rows)
    down = len(voted.rows) - up
    candidates = sum(len(s["options"]) for r in voted.rows for s in r["steps"])
    assert (f"Juniper Vale: {len(voted.rows)} voted songs: {up} up (👍), {down} down (👎); "
            f"{len(voted.rows)} ranking steps with {candidates} candidates; 7 bad rows skipped"
            in result.stdout)
    assert "is not valid JSON" not in result.stdout  # reasons are ours, in a line each
    reasons = [line for line in result.stdout.splitlines() if line.startswith("skipped line")]
    assert len(reasons) == 5  # the first five of seven
    assert f"skipped line {len(lines) + 3}: label is " in result.stdout
    assert f"skipped line {len(lines) + 4}: a tie (2 up, 2 down) has no label" in result.stdout
    stored = read_votes(home / "feedback" / "juniper-vale.jsonl")
    assert [v.generation_id for v in stored.rows] == [r["generation_id"] for r in voted.rows]
    assert stored.skipped == []
    assert stored.rows[0].steps[0].options[1].features == voted.rows[0]["steps"][0][
        "options"][1]["features"]


def test_feedback_without_the_bot_exporter_is_one_error_line_and_keeps_the_stored_votes(
        voted, tmp_path):
    home = tmp_path / "home"
    stored = home / "feedback" / "juniper-vale.jsonl"
    stored.parent.mkdir(parents=True)
    shutil.copy(voted.path, stored)

    result = cli(home, "feedback", "--artist", "Juniper Vale")

    assert result.returncode == 1
    assert result.stderr.startswith("error: could not export votes with `python -m bot "
                                    "feedback`: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "pass --file PATH" in result.stderr
    assert stored.read_text() == voted.path.read_text()
    assert [p.name for p in stored.parent.iterdir()] == ["juniper-vale.jsonl"]


def test_fit_recovers_the_listeners_rule(voted):
    votes = read_votes(voted.path).rows
    fitted = ranker.fit(votes, min_votes=len(votes))

    # Listeners like short distances from the artist's line width: its weight is negative and
    # counts most, per standard deviation of each feature.
    assert fitted.weights["width"] < 0
    strongest = max(FEATURES, key=lambda f: abs(fitted.standardised[f]))
    assert strongest == "width", fitted.standardised
    assert fitted.pair_accuracy > 0.8  # held out, cross-validated
    # Scaled to the defaults' absolute sum, over the features that varied.
    varied = [f for f in FEATURES if fitted.standardised[f] != 0.0]
    assert sum(abs(fitted.weights[f]) for f in varied) == pytest.approx(
        sum(abs(ranker.DEFAULT_WEIGHTS[f]) for f in varied))


def test_fit_refuses_too_few_votes_and_votes_of_one_kind(voted):
    votes = read_votes(voted.path).rows
    with pytest.raises(ranker.TooFewVotes, match=f"^{len(votes)} of 1000 votes$"):
        ranker.fit(votes, min_votes=1000)
    liked = [v for v in votes if v.label]
    with pytest.raises(ranker.TooFewVotes, match=f"all {len(liked)} votes are 👍"):
        ranker.fit(liked, min_votes=1)


def test_ranking_json_round_trips_and_a_bad_one_reads_as_none(voted, tmp_path):
    fitted = ranker.fit(read_votes(voted.path).rows, min_votes=1)
    ranker.write_ranking(tmp_path, fitted)

    data = ranker.read_ranking(tmp_path)
    assert data["weights"] == {f: pytest.approx(fitted.weights[f], abs=1e-6) for f in FEATURES}
    assert data["bias"] == pytest.approx(fitted.bias, abs=1e-6)
    assert data["votes"] == len(voted.rows) and data["source"] == "feedback"
    assert data["fitted_at"].endswith("Z")
    (tmp_path / "ranking.json").write_text('{"weights": {"likelihood": 1.0}}')
    assert ranker.read_ranking(tmp_path) is None


def test_held_out_split_keeps_a_fifth_of_each_label_and_is_stable(voted):
    votes = read_votes(voted.path).rows
    tune, held = split_votes(votes)
    assert sorted(v.generation_id for v in tune + held) == sorted(v.generation_id for v in votes)
    for label in (True, False):
        count = sum(v.label is label for v in votes)
        assert sum(v.label is label for v in held) == round(0.2 * count)
    _, again = split_votes(votes[::-1])
    assert {v.generation_id for v in again} == {v.generation_id for v in held}


@pytest.fixture
def published(tmp_path, trained):
    """A home whose registry serves a copy of the "good" run."""
    home = tmp_path / "home"
    registry = Registry(artist_models(home, "Juniper Vale"))
    copy_runs(registry, trained, "good")
    publish(registry, "good")
    return home, registry


def test_feedback_fit_below_min_votes_keeps_the_default_ranking(voted, published):
    home, registry = published
    result = cli(home, "feedback", "--file", str(voted.path), "--artist", "Juniper Vale",
                 "--fit", FEEDBACK_MIN_VOTES="1000")
    assert result.returncode == 0, result.stderr
    assert f"using the default ranking ({len(voted.rows)} of 1000 votes)" in result.stdout
    assert not (registry.run("good").path / "ranking.json").exists()


def test_feedback_fit_stores_the_weights_in_the_published_run_and_its_report(voted, published):
    home, registry = published
    result = cli(home, "feedback", "--file", str(voted.path), "--artist", "Juniper Vale",
                 "--fit", FEEDBACK_MIN_VOTES="20")
    assert result.returncode == 0, result.stderr
    run = registry.run("good")
    data = ranker.read_ranking(run.path)
    assert data["votes"] == len(voted.rows) and data["weights"]["width"] < 0
    assert f"ranking weights fitted from {len(voted.rows)} votes into run good" in result.stdout
    report = (run.path / "report.md").read_text()
    section = report[report.index("## Ranking from votes"):report.index("## Samples")]
    assert "| width | -1.5 | " in section and f"Fitted from {len(voted.rows)} voted" in section
    # Fitting again replaces the section rather than adding a second one.
    assert cli(home, "feedback", "--file", str(voted.path), "--artist", "Juniper Vale",
               "--fit", FEEDBACK_MIN_VOTES="20").returncode == 0
    assert (run.path / "report.md").read_text().count("## Ranking from votes") == 1


def test_votes_recorded_before_the_reference_feature_read_it_as_zero(voted, tmp_path):
    rows = [json.loads(line) for line in voted.path.read_text().splitlines()]
    for row in rows:
        for step in row["steps"]:
            for option in step["options"]:
                option["features"].pop("reference", None)
    older = tmp_path / "older.jsonl"
    older.write_text("".join(json.dumps(row) + "\n" for row in rows))
    read = read_votes(older)
    assert read.skipped == [] and len(read.rows) == len(rows)
    assert {o.features["reference"] for v in read.rows for s in v.steps for o in s.options} \
        == {0.0}
