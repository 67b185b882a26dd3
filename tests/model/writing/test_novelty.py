from model.writing.novelty import CopyIndex

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
