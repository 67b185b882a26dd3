from model.novelty import CopyIndex, cut_before

SONG = "We lit paper lanterns on the fourth of July\nYou said make a wish and I wished for the sky"


def test_a_planted_copy_is_measured_across_lines():
    index = CopyIndex([SONG])
    text = "Brand new words here, on the fourth of July you said make a wish and then more"
    assert index.longest_copy(text) == 11  # "on the fourth of july you said make a wish and"


def test_short_shared_phrases_are_not_copies():
    index = CopyIndex([SONG])
    assert index.longest_copy("I wished for the sky tonight, my love, under stars") == 0


def test_case_and_punctuation_do_not_hide_a_copy():
    index = CopyIndex([SONG])
    assert index.longest_copy("WE LIT PAPER LANTERNS, ON THE FOURTH OF... july!") == 9


def test_cut_before_drops_the_line_where_a_copy_starts():
    text = "my own first line\nmy own second line\nwe lit paper lanterns on the fourth"
    cut = cut_before(text, text.index("we lit"), keep=17)
    assert cut == "my own first line\nmy own second line"


def test_cut_before_never_cuts_into_the_prompt():
    text = "my prompt and then a copy begins here\nmore"
    assert cut_before(text, text.index("a copy"), keep=9) == "my prompt and then"
    assert cut_before(text, 3, keep=9) == "my prompt"
