"""How both commands say an error in one line."""

from swiftai.logs import one_line


def test_an_error_is_one_line_of_its_words_cut_at_the_limit():
    error = ValueError("cannot load\n  the model:\tits config.json\nis missing")
    assert one_line(error) == "cannot load the model: its config.json is missing"
    assert one_line(error, 11) == "cannot load"
    assert one_line(ValueError("x" * 500)) == "x" * 300


def test_an_error_without_words_is_named_by_its_type_and_typed_ones_always_are():
    assert one_line(TimeoutError()) == "TimeoutError"
    assert one_line(TimeoutError(), typed=True) == "TimeoutError"
    assert one_line(OSError("refused"), typed=True) == "OSError: refused"
