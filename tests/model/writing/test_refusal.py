"""A request's own filter (`Request.refuse`): a line it refuses is never kept, nor logged."""

from model.writing.request import Request
from tests.model.fake_openai import FakeInference
from tests.model.writing.test_composer import run, verse_of, write


def no_zero(line: str) -> str | None:
    """Refuse the fake's likeliest candidate ("line 0 of song r"), as a word list would."""
    return "explicit" if "line 0" in line else None


def test_a_refused_candidate_is_passed_over_and_its_text_is_not_logged(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums),
                           Request("We lit lanterns", lines=2, refuse=no_zero), candidates=2))
    finally:
        fake.close()
    assert result.text == "We lit lanterns\nline 1 of song 1"
    (step,) = result.steps
    assert [o.text for o in step.options] == ["(explicit line filtered)", "line 1 of song 1"]
    assert step.kept == 1 and (result.filtered, result.redrawn) == (1, 0)


def test_a_step_whose_every_candidate_is_refused_is_drawn_again(tiny_albums):
    fake = FakeInference().start()
    fake.line = lambda i, song: "line 0 again" if song == 1 else f"line {i + 1} of song {song}"
    try:
        result = run(write(verse_of(fake, tiny_albums),
                           Request("We lit lanterns", lines=2, refuse=no_zero)))
    finally:
        fake.close()
    assert result.attempts == 2 and result.text == "We lit lanterns\nline 1 of song 2"
    assert (result.filtered, result.redrawn) == (1, 1)


def test_without_a_filter_the_same_line_is_kept(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums), Request("We lit lanterns", lines=2),
                           candidates=2))
    finally:
        fake.close()
    assert result.text == "We lit lanterns\nline 0 of song 1" and result.filtered == 0
