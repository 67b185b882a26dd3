"""Training options are declared once: the flags of `train` and `run` come from TrainOptions."""

import dataclasses

import pytest

from tests.training.conftest import cli
from training.__main__ import build_parser
from training.tuning.options import FULL_LEARNING_RATE, LORA_LEARNING_RATE, TrainOptions


@pytest.mark.parametrize("command", ["train", "run"])
def test_every_option_has_a_flag_with_its_help(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # help wraps lines
    for field in dataclasses.fields(TrainOptions):
        flag = field.name.replace("_", "-")
        assert (f"--{flag}" in shown) != (f"--no-{flag}" in shown), flag
        assert " ".join(field.metadata["help"].split())[1:] in shown, field.name


def test_flags_given_override_and_the_rest_keep_their_defaults():
    args = build_parser().parse_args(["train", "--block-size", "128", "--no-album-headers",
                                      "--checkpoint-minutes", "0.5"])
    options = TrainOptions.from_args(args, base_model="from-settings")
    assert options == TrainOptions(base_model="from-settings", block_size=128,
                                   album_headers=False, checkpoint_minutes=0.5)
    assert options.learning_rate == FULL_LEARNING_RATE


def test_lora_has_its_own_default_learning_rate_unless_one_is_given():
    lora = TrainOptions.from_args(build_parser().parse_args(["train", "--lora"]))
    assert lora.lora and lora.learning_rate == LORA_LEARNING_RATE
    given = build_parser().parse_args(["train", "--lora", "--learning-rate", "1e-3"])
    assert TrainOptions.from_args(given).learning_rate == 1e-3


def test_options_survive_a_round_trip_through_run_json():
    options = TrainOptions(lora=True, lora_rank=8)
    assert TrainOptions.from_json(dataclasses.asdict(options)) == options


def test_a_run_json_older_than_lora_plus_resumes_with_plain_lora():
    older = dataclasses.asdict(TrainOptions(lora=True))
    del older["lora_plus"]
    assert TrainOptions.from_json(older).lora_plus == 1.0
    assert TrainOptions(lora=True).lora_plus > 1.0  # a new run learns with LoRA+


@pytest.mark.parametrize("flag, value, least", [("--lora-plus", "0.5", "1"),
                                                ("--batch-size", "0", "1"),
                                                ("--block-size", "1", "2")])
def test_an_option_below_its_least_is_refused_in_one_line(tmp_path, flag, value, least):
    result = cli(tmp_path, "train", "--lora", flag, value)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {flag} must be at least {least}, not {value}"
    assert not (tmp_path / "models").exists()  # refused before any run folder
