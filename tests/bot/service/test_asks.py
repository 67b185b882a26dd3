"""The one schema of a request for lyrics: what is refused, and what is logged of it."""

from __future__ import annotations

import pytest

from bot.service.asks import EXCERPT_CHARS, Refused, Who, read_ask

WHO = Who("web", "web:127.0.0.1")


def refusal(**fields) -> Refused:
    with pytest.raises(Refused) as caught:
        read_ask(WHO, {"prompt": "a first line", **fields}, 200)
    return caught.value


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400, -1, 0,
                                   41, 2.5, "2.5", "Infinity", "1e3", True, [], {}, "9" * 5000])
def test_lines_must_be_a_whole_number_in_range(value):
    assert str(refusal(lines=value)).startswith("lines must be")


@pytest.mark.parametrize("value", [0, -1, 4, 1.5, 10**400, float("inf"), "two", False])
def test_song_count_zero_and_fractions_are_refused_not_bent(value):
    assert str(refusal(n=value)).startswith("n must be")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e308, 0.0, 2.01, "hot",
                                   "0x1p-1", True, [0.5]])
def test_temperature_must_be_a_finite_number_in_range(value):
    assert str(refusal(temperature=value)).startswith("temperature must be")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"lines": 4, "n": 2, "temperature": 0.5}, (4, 2, 0.5)),
    ({"lines": "4", "n": "3", "temperature": "1.5"}, (4, 3, 1.5)),  # query strings
    ({"lines": 4.0, "temperature": 1}, (4, 1, 1.0)),  # JSON numbers that are whole
    ({"lines": None, "n": None, "temperature": ""}, (None, 1, None)),  # absent
])
def test_good_numbers_are_taken_as_they_are_meant(fields, expected):
    ask, songs = read_ask(WHO, {"prompt": "a first line", **fields}, 200)
    assert (ask.lines, songs, ask.temperature) == expected


def test_errors_name_the_field_as_the_caller_spells_it():
    with pytest.raises(Refused, match=r"^num must be between 1 and 3"):
        read_ask(WHO, {"prompt": "x", "n": "0"}, 200, names={"n": "num"})


@pytest.mark.parametrize(("prompt", "message"), [
    (None, "prompt is required"), ("", "prompt is required"), (7, "prompt must be text"),
    (["a"], "prompt must be text"), ("   ", "empty"), ("x" * 201, "too long"),
    ("x" * 100_000, r"too long \(100000 characters"),
])
def test_bad_prompts_are_refused(prompt, message):
    with pytest.raises(Refused, match=message):
        read_ask(WHO, {"prompt": prompt}, 200)


def test_a_refused_request_keeps_only_an_excerpt_and_the_fields_that_passed():
    error = refusal(prompt="y" * 60_000, lines=3)
    assert error.ask.prompt == "y" * EXCERPT_CHARS and error.ask.lines is None
    error = refusal(album="Harbor Lights", lines=10**400)
    assert (error.ask.prompt, error.ask.album, error.ask.lines) == ("a first line",
                                                                     "Harbor Lights", None)


def test_an_album_must_be_a_short_name():
    assert str(refusal(album=["a"])).startswith("album must be an album name")
    assert str(refusal(album="x" * 101)).startswith("album must be an album name")
