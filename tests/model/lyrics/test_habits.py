"""An artist's line habits, learnt from synthetic lyrics, and the lines that break them."""

import pytest

from model.lyrics.habits import RARE, habits, junk, unlike
from model.lyrics.style import GENERIC, Style, figures

# An artist who writes commas, apostrophes, question marks, hyphens, colons inside a line and
# trailing ellipses: 200 lines, so each habit is far past 1 line in 100.
PLAIN = ["we drove all night, didn't we?", "slow-motion summer: you and me",
         "and I waited...", "the porch light burning on the hill"] * 50


def rules(lines):
    return habits(lines)


@pytest.mark.parametrize("line, broken", [
    ("I walked home; it was late", "';'"),  # a character the artist never writes
    ("Ich liebe dich, mein Schatz", None),  # plain letters are anyone's
    ("the café on the corner", "'é'"),
    ("it was late and I walked home.", "full stop at the end"),
    ("it was late. I walked home", "sentence break"),
    ("it was late and I walked home,", "comma at the end"),
    ("it was late, and I walked 'home,'", "comma at the end"),
    ("we had 60 of them", "digits"),
    ("L.A.R.D, L.A.R.D", "letter string"),
    ("- a cake with blue icing", "list item"),
    ("2. add the eggs: slowly", "digits"),
    ("read it at www.lyrics.com", "url"),
    ("Chorus:", "section name"),
    ("(Bridge)", "'('"),
    ("OH YEAH OH YEAH", "capitals"),
    ("and I waited... for you", None),
    ("slow-motion summer: you and me again", None),
])
def test_a_line_with_a_character_or_shape_the_artist_never_writes_is_unlike_theirs(line, broken):
    characters, shapes = rules(PLAIN)
    assert unlike(line, characters, shapes) == broken


def test_an_artist_who_uses_a_shape_keeps_it_and_one_who_almost_never_does_loses_it():
    often = [f"{n} miles from home" for n in range(4)] + ["a plain line"] * 196  # 1 in 50
    # 1 in 150: a rap catalogue's full stops ending a line (0.6%), under RARE; a model tuned on
    # it for 12 steps ended 3.9% of its lines so, and the classifier told its stanzas by them.
    rarely = ["22 again", "24 again"] + ["a plain line"] * 298
    assert RARE > 1 / 150
    assert "digits" in rules(often)[1] and unlike("we were 22", *rules(often)) is None
    assert unlike("we were 22", *rules(rarely)) == "digits"


def test_an_artist_who_closes_their_ad_libs_is_never_given_one_cut_off():
    # A rap model tuned for 12 steps left 2.2% of its lines with a bracket unpaired, cut off
    # at the line's end ("don't waste your soul ( toy"); its artist, 1 line in 6,400.
    ad_libs = ["we ran all night (all night)", "(yeah) the city's ours", "a plain line"] * 70
    assert unlike("(yeah) we ran (we ran)", *rules(ad_libs)) is None
    assert unlike("don't waste your soul (toy", *rules(ad_libs)) == "unpaired bracket"
    assert unlike("yeah) and we ran", *rules(ad_libs)) == "unpaired bracket"
    assert unlike("don't waste your soul ( toy)", *rules(ad_libs)) == "space inside a bracket"
    # An artist whose brackets run across lines keeps them.
    across = ["(we ran all night", "and never stopped)", "a plain line"] * 70
    assert unlike("we waste our soul (toy", *rules(across)) is None


def test_the_habits_travel_with_the_style_figures_and_old_figures_let_every_line_through():
    style = figures(["\n".join(PLAIN[:8])] * 3)
    assert style.characters == "',-.:?" and style.shapes == ("ellipsis",)
    again = Style.from_json(style.to_json())
    assert again == style and isinstance(again.shapes, tuple)
    saved_before = {k: v for k, v in style.to_json().items() if k not in ("characters", "shapes")}
    old = Style.from_json(saved_before)
    assert unlike("it ends. With 60: *", old.characters, old.shapes) is None


def test_figures_saved_before_a_shape_was_looked_for_let_that_shape_through():
    # The artist's figures list the shapes they use; ones saved before "comma at the end" was
    # looked for say nothing of it, so they must not refuse it (the artist may end lines so).
    saved = figures(["\n".join(PLAIN[:8])] * 3).to_json()
    assert "comma at the end" not in saved["shapes"]
    now = Style.from_json(saved)
    assert unlike("we drove all night,", now.characters, now.shapes, now.checked) == \
        "comma at the end"
    del saved["checked"]
    before = Style.from_json(saved)
    assert unlike("we drove all night,", before.characters, before.shapes, before.checked) is None
    assert unlike("we drove all night.", before.characters, before.shapes, before.checked) == \
        "full stop at the end"


def test_lyrics_in_general_write_no_full_stops_digits_or_colons():
    for line in ("it was late.", "we had 60", "note: this"):
        assert unlike(line, GENERIC.characters, GENERIC.shapes) is not None
    assert unlike("don't you (don't you) know it, \"baby\"?", GENERIC.characters,
                  GENERIC.shapes) is None


@pytest.mark.parametrize("line, kind", [
    ("**Step 2**", "markup"), ("[Verse 2]", "markup"), ("Verse 2:", "markup"),
    ("# Decorations", "markup"), ("* a bullet", "markup"), ("1) the first", "list item"),
    ("- sugar roses", "list item"), ("x = y + 1", "code"), ("print(line)", "code"),
    ("see https://example.org", "url"), ("3, 4, 5 and 6", "number list"),
    ("60% of the time", "number list"),
    ("oh what do I do with this grief? (Bridge) (Chorus)", "markup"),
    ("I think I am lost (verse 2)", "markup"), ("we crossed (the bridge) at dawn", None),
    ("don't you (don't you) know it?", None), ("It's 2 A.M. and I'm awake", None),
    ("Bridge over the water, baby", None),
])
def test_junk_lines_are_told_from_lyrics(line, kind):
    assert junk(line) == kind
