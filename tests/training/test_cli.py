"""The training CLI as a user runs it: exit codes, one-line errors, files on disk."""

import json

from tests.conftest import EXAMPLE_EXPORT, run_cli


def test_import_then_corpus_gives_a_clean_split_corpus(hermetic_env):
    imported = run_cli("training", "import", str(EXAMPLE_EXPORT))
    assert imported.returncode == 0, imported.stderr
    assert "12 songs imported" in imported.stdout
    built = run_cli("training", "corpus", "--artist", "Juniper Vale")
    assert built.returncode == 0, built.stderr
    out = hermetic_env / "data" / "corpus" / "juniper-vale"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train"] + manifest["counts"]["val"] == 12
    assert manifest["counts"]["val"] >= 1
    assert manifest["albums"] == ["Harbor Lights", "Neon Psalms", "Static Bloom"]
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert first["lyrics"].startswith("[Verse]\n")


def test_explain_lists_dropped_and_merged_songs(hermetic_env, tmp_path):
    data = json.loads(EXAMPLE_EXPORT.read_text())
    original = data["songs"][0]
    data["songs"].append({**original, "id": 1, "title": original["title"] + " (Taylor's Version)",
                          "release_date": "2024-01-01"})
    data["songs"].append({**original, "id": 2, "title": "Harbor Lights (Liner Notes)"})
    export = tmp_path / "export.json"
    export.write_text(json.dumps(data))
    assert run_cli("training", "import", str(export)).returncode == 0
    built = run_cli("training", "corpus", "--artist", "Juniper Vale", "--explain")
    assert built.returncode == 0, built.stderr
    assert ("dropped: Harbor Lights (Liner Notes): not a song: title says 'liner notes'"
            in built.stdout)
    assert ("merged: Paper Lanterns (Taylor's Version): version of 'Paper Lanterns'"
            in built.stdout)


def test_corpus_for_an_artist_with_nothing_downloaded_is_one_clear_line():
    result = run_cli("training", "corpus", "--artist", "Nobody Known")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no songs for 'Nobody Known'")
    assert result.stderr.count("\n") == 1


def test_malformed_file_in_an_import_writes_nothing(hermetic_env, tmp_path):
    broken = tmp_path / "zz-broken.json"
    broken.write_text('{"songs": [{"title": ')
    result = run_cli("training", "import", str(EXAMPLE_EXPORT), str(broken))
    assert result.returncode == 1
    assert "zz-broken.json is not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert not (hermetic_env / "data").exists()


def test_a_damaged_cache_file_is_named_and_the_old_corpus_kept(hermetic_env):
    assert run_cli("training", "import", str(EXAMPLE_EXPORT)).returncode == 0
    assert run_cli("training", "corpus", "--artist", "Juniper Vale").returncode == 0
    out = hermetic_env / "data" / "corpus" / "juniper-vale"
    before = (out / "train.jsonl").read_bytes()
    damaged = hermetic_env / "data" / "raw" / "juniper-vale" / "songs" / "genius-7003.json"
    damaged.write_bytes(b"\xff\xfe not utf-8")
    result = run_cli("training", "corpus", "--artist", "Juniper Vale")
    assert result.returncode == 1
    assert "genius-7003.json is not UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert (out / "train.jsonl").read_bytes() == before


def test_txt_songs_without_lyrics_only_is_an_error(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "Empty.txt").write_text("   \n")
    result = run_cli("training", "import", str(folder), "--artist", "Juniper Vale")
    assert result.returncode == 1
    assert "skipped: Empty: no lyrics" in result.stderr
    assert "error: nothing was imported" in result.stderr


def test_csv_with_no_recognisable_header_is_one_clear_line(tmp_path):
    path = tmp_path / "songs.csv"
    path.write_text("Track,Body\n1,la la la\n")
    result = run_cli("training", "import", str(path), "--artist", "Juniper Vale")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "found: 'Track', 'Body'" in result.stderr
