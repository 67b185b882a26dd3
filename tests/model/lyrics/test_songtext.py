from model.lyrics.songtext import SONG_CHARS, clean_output, is_degenerate


def test_control_characters_and_bad_bytes_are_stripped():
    assert clean_output("line\x11 one\ufffd\nline two") == "line one\nline two"


def test_output_is_cut_at_a_line_boundary_to_the_line_count():
    text = "[Verse]\n" + "\n".join(f"line {i}" for i in range(10))
    assert clean_output(text, max_lines=3) == "[Verse]\nline 0\nline 1\nline 2"


def test_output_is_cut_at_a_line_boundary_under_the_character_limit():
    text = "\n".join(f"this is line number {i} of a long song" for i in range(200))
    out = clean_output(text)
    assert len(out) <= SONG_CHARS and out.endswith("of a long song")
    assert len(out) > SONG_CHARS - 40


def test_a_line_repeated_many_times_is_cut_to_two():
    out = clean_output("hello\n" + "shake it off\n" * 20 + "goodbye")
    assert out == "hello\nshake it off\nshake it off\ngoodbye"


def test_a_chorus_may_come_back():
    chorus = "shake it off\nshake it off\nI shake it off"
    out = clean_output(f"{chorus}\n\nverse line\n\n{chorus}")
    assert out.count("I shake it off") == 2


def test_stanza_spacing_is_one_blank_line_and_no_trailing_header():
    assert clean_output("\n\na\n\n\n\nb\n\n[Chorus]\n") == "a\n\nb"


def test_loops_are_recognised():
    assert is_degenerate("la la\n" * 5)
    assert is_degenerate("I love you " * 6)
    assert not is_degenerate("we lit lanterns\nthe harbor is quiet\nwe lit lanterns\nyou said")


def test_a_header_written_mid_line_is_dropped_but_a_header_line_stays():
    out = clean_output("[Verse]\nthe only one you can manage [Verse]\nand home [Chorus] again")
    assert out == "[Verse]\nthe only one you can manage\nand home again"


def test_curly_quotes_are_straightened_as_the_training_songs_have_them():
    assert clean_output("don\u2019t say \u201cnever\u201d, \u2018kid\u2019") == \
        "don't say \"never\", 'kid'"
