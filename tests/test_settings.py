"""The one settings model both `python -m bot` and `python -m training` read."""

import subprocess
import sys

import pytest

from swiftai.settings import ConfigError, Settings
from tests.conftest import ROOT


def test_every_invalid_key_of_either_package_is_listed_in_one_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SWIFTAI_HOME": str(tmp_path / "file"), "GENIUS_BASE_URL": "genius",
                           "QUEUE_SIZE": "many", "ADMIN_USER_IDS": "7,bob", "WEB_PORT": "-1",
                           "SERVING_BACKEND": "magic", "RETRAIN_ARGS": "'open"})
    message = str(caught.value)
    assert message.startswith("invalid settings: ") and "\n" not in message
    for key in ("SWIFTAI_HOME", "GENIUS_BASE_URL", "QUEUE_SIZE", "ADMIN_USER_IDS", "WEB_PORT",
                "SERVING_BACKEND", "RETRAIN_ARGS"):
        assert key in message
    assert "ADMIN_USER_IDS='7,bob' has 'bob', not a Discord user id" in message


def test_empty_values_take_the_defaults_and_lists_are_parsed():
    settings = Settings.from_env({"QUEUE_SIZE": "", "SWIFTAI_ARTIST": " Juniper Vale ",
                                  "ADMIN_USER_IDS": "3, 1 2", "RETRAIN_ARGS": "--epochs 4",
                                  "INFERENCE_URL": "http://a:8000/v1/, http://b/v1"})
    assert settings.queue_size == 64 and settings.artist == "Juniper Vale"
    assert settings.admin_user_ids == {1, 2, 3} and settings.retrain_args == ("--epochs", "4")
    assert settings.inference_urls == ("http://a:8000/v1", "http://b/v1")


def test_secrets_are_shown_neither_in_errors_nor_in_the_settings_repr():
    settings = Settings.from_env({"DISCORD_TOKEN": "sekrit-token", "INFERENCE_API_KEY": "k3y",
                                  "GENIUS_ACCESS_TOKEN": "g3nius"})
    assert settings.discord_token == "sekrit-token"
    assert not {"sekrit-token", "k3y", "g3nius"} & set(repr(settings).replace("'", " ").split())


def test_settings_read_only_the_mapping_they_are_given(monkeypatch):
    monkeypatch.setenv("QUEUE_SIZE", "5")
    assert Settings.from_env({}).queue_size == 64


def test_the_process_reads_the_environment_then_dotenv_in_the_working_folder(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("QUEUE_SIZE=5\nMAX_BATCH=7\nCANDIDATES=\nLOG_LEVEL=debug\n",
                                   encoding="utf-8")
    monkeypatch.setenv("MAX_BATCH", "9")
    settings = Settings.load()
    assert (settings.queue_size, settings.max_batch, settings.candidates) == (5, 9, 3)
    assert settings.log_level == "DEBUG"


def test_importing_the_settings_loads_no_model_code():
    code = ("import sys, swiftai.settings; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'model'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_the_home_layout_is_declared_once(tmp_path):
    settings = Settings.from_env({"SWIFTAI_HOME": str(tmp_path)})
    assert settings.database == tmp_path / "swiftai.db"
    assert settings.models_dir == tmp_path / "models"
    assert settings.raw_dir("Taylor Swift") == tmp_path / "data" / "raw" / "taylor-swift"
    assert settings.corpus_dir("Björk") == tmp_path / "data" / "corpus" / "bjork"


@pytest.mark.parametrize("package", ["bot", "training"])
def test_both_commands_refuse_the_same_bad_setting_in_one_line(package, tmp_path):
    command = [sys.executable, "-m", package] + (["models"] if package == "training" else [])
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "SWIFTAI_HOME": str(tmp_path), "MAX_BATCH": "0"})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: invalid settings: MAX_BATCH='0' must be at least 1"]


def test_the_artists_served_default_to_swiftai_artist_alone():
    assert Settings.from_env({}).artists == ("Taylor Swift",)
    assert Settings.from_env({"SWIFTAI_ARTIST": "Juniper Vale"}).artists == ("Juniper Vale",)


def test_several_artists_the_first_also_the_clis_default():
    settings = Settings.from_env({"SWIFTAI_ARTISTS": "Juniper Vale, Marlow Keys",
                                  "INFERENCE_MODELS": "Juniper Vale=jv-lora,marlow-keys=mk"})
    assert settings.artists == ("Juniper Vale", "Marlow Keys")
    assert settings.artist == "Juniper Vale"
    assert settings.inference_models == {"juniper-vale": "jv-lora", "marlow-keys": "mk"}
    both = Settings.from_env({"SWIFTAI_ARTISTS": "A, B", "SWIFTAI_ARTIST": "B"})
    assert both.artists == ("A", "B") and both.artist == "B"


@pytest.mark.parametrize(("env", "message"), [
    ({"SWIFTAI_ARTISTS": "Juniper Vale,juniper vale"}, "which share the folder 'juniper-vale'"),
    ({"SWIFTAI_ARTISTS": "A,!!"}, "artist name '!!' has no letters or digits"),
    ({"INFERENCE_MODELS": "taylor-swift"}, "has 'taylor-swift', not artist=model-name"),
    ({"INFERENCE_MODELS": "nobody=x"}, "INFERENCE_MODELS names nobody, not among the artists"),
    ({"SWIFTAI_ARTISTS": "A,B", "SERVING_BACKEND": "openai", "INFERENCE_URL": "http://x/v1",
      "INFERENCE_MODELS": "a=lora-a"}, "needs each one's model name on the servers: "
                                       "INFERENCE_MODELS=b=NAME"),
])
def test_artist_settings_that_cannot_work_are_refused(env, message):
    with pytest.raises(ConfigError, match="invalid settings: ") as caught:
        Settings.from_env(env)
    assert message in str(caught.value)


def test_the_two_artist_compose_file_is_a_valid_configuration():
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    environment = compose["services"]["bot"]["environment"]
    settings = Settings.from_env({k: str(v) for k, v in environment.items()})
    assert settings.artists == ("Juniper Vale", "Marlow Reyes")
    lora = compose["services"]["vllm"]["command"]
    served = {m.split("=")[0] for m in lora[lora.index("--lora-modules") + 1:]}
    assert set(settings.inference_models.values()) == served
