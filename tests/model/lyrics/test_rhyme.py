"""Rhymes, stanza schemes and the rhyme plan, on constructed lines."""

import random

import pytest

from model.lyrics.rhyme import RhymeBook, aim, asked, plan, rhyme_book, scheme_of, schemes
from model.lyrics.style import near_rhymes, quality


def test_near_rhymes_share_the_stressed_vowel_and_a_like_final_consonant():
    assert near_rhymes("time", "line")  # M and N: both nasals
    assert near_rhymes("fate", "shade")  # T and D: both stops
    assert near_rhymes("go", "slow")  # no final consonant on either
    assert not near_rhymes("night", "moon")  # other vowels
    assert not near_rhymes("time", "tide")  # a nasal and a stop
    assert not near_rhymes("line", "line")  # a word does not rhyme with itself


def test_quality_is_one_for_strict_a_half_for_near_and_zero_for_none():
    assert quality("night", "light") == 1.0
    assert quality("time", "line") == 0.5
    assert quality("night", "moon") == 0.0


def test_four_lines_are_named_by_their_end_rhymes():
    assert scheme_of(["I walk at night", "the road is long", "under the light",
                      "I sing my song"]) == "ABAB"
    assert scheme_of(["I walk at night", "under the light", "the road is long",
                      "I sing my song"]) == "AABB"
    assert scheme_of(["I walk at dawn", "the road is long", "under a tree",
                      "I sing my song"]) == "XAXA"
    assert scheme_of(["one blue door", "two old cars", "a quiet town", "the river"]) == "none"


def test_an_artists_schemes_are_counted_by_four_line_groups():
    song = ("[Verse]\nI walk at night\nunder the light\nthe road is long\nI sing my song\n"
            "one blue door\ntwo old cars\na quiet town\nthe river\n\n"
            "[Chorus]\nI walk at dawn\nthe road is long\nunder a tree\nI sing my song")
    assert schemes([song]) == {"AABB": 0.3333, "ABAB": 0.0, "XAXA": 0.3333, "none": 0.3333}


def test_each_group_of_four_draws_one_scheme_and_its_partners():
    assert plan({"ABAB": 1.0}, 8, random.Random(1)) == [None, None, 0, 1, None, None, 4, 5]
    assert plan({"AABB": 1.0}, 6, random.Random(1)) == [None, 0, None, 2, None, 4]
    assert plan({"none": 1.0}, 3, random.Random(1)) == [None, None, None]
    drawn = [plan({"XAXA": 0.5, "none": 0.5}, 4, random.Random(seed))[3] for seed in range(200)]
    assert 70 < drawn.count(1) < 130  # about half the groups rhyme lines 2 and 4


def test_reendings_are_the_artists_strict_rhymes_end_words_first():
    book = rhyme_book(["I shine\nall mine\nso fine\nstill mine", "the pines are mine\nall"])
    assert book.end_words == {"shine": 1, "mine": 3, "fine": 1, "all": 1}
    assert book.words["pines"] == 1 and book.words["i"] == 1
    assert book.reendings("line") == ["mine", "shine", "fine"]  # "pines" is near, not strict
    assert book.reendings("valentine") == ["mine", "shine", "fine"]
    assert book.reendings("spines") == ["pines"]  # a word they sing, not at a line's end


def test_reendings_fall_back_on_the_dictionary_then_on_near_rhymes():
    words = RhymeBook({}, {"far": 2}).reendings("line")
    assert len(words) == 8 and all(quality(w, "line") == 1.0 for w in words)
    assert [len(w) for w in words] == sorted(len(w) for w in words)  # short, common words first
    assert RhymeBook({}, {"time": 2}).reendings("zzzzq") == []
    # "month" has no strict rhyme anywhere; "once" is near (AH, then N TH / N S).
    assert RhymeBook({}, {"once": 1, "time": 3}).reendings("month") == ["once"]


def test_a_plan_asks_two_lines_of_four_for_couplets_and_one_for_xaxa():
    assert asked({"AABB": 1.0}) == 0.5
    assert asked({"XAXA": 0.5, "none": 0.5}) == 0.125
    assert asked({"none": 1.0}) == 0.0


def test_aim_scales_the_rhyming_schemes_to_ask_the_artists_rate():
    # Mostly "none" and XAXA, as real lyrics measure: the plan asks 0.0625 of lines.
    shares = {"AABB": 0.05, "ABAB": 0.0, "XAXA": 0.15, "none": 0.8}
    aimed = aim(shares, 0.146)
    assert asked(aimed) == pytest.approx(0.146)
    assert aimed["AABB"] / aimed["XAXA"] == pytest.approx(0.05 / 0.15)  # proportions kept
    assert aimed["ABAB"] == 0.0
    assert sum(aimed.values()) == pytest.approx(1.0)


def test_aim_asks_the_rate_of_a_section_whose_last_group_is_cut_short():
    # Six lines: a group of four and one of two, where only AABB asks a rhyme (its line 2).
    assert asked({"AABB": 1.0}, 6) == pytest.approx(3 / 6)
    assert asked({"XAXA": 1.0}, 6) == pytest.approx(1 / 6)
    shares = {"AABB": 0.05, "ABAB": 0.0, "XAXA": 0.15, "none": 0.8}
    aimed = aim(shares, 0.146, 6)
    assert asked(aimed, 6) == pytest.approx(0.146)
    assert asked(aimed, 6) > asked(aim(shares, 0.146), 6)  # aimed for 4, a 6 asks too few
    drawn = [p for seed in range(400) for p in plan(aimed, 6, random.Random(seed))]
    assert sum(p is not None for p in drawn) / len(drawn) == pytest.approx(0.146, abs=0.02)
    assert aim({"XAXA": 1.0}, 0.2, 2) == {"AABB": 0.0, "ABAB": 0.0, "XAXA": 1.0, "none": 0.0}


def test_aim_lowers_rhyming_schemes_for_an_artist_who_rhymes_less_than_planned():
    aimed = aim({"AABB": 0.5, "ABAB": 0.0, "XAXA": 0.0, "none": 0.5}, 0.05)
    assert aimed == pytest.approx({"AABB": 0.1, "ABAB": 0.0, "XAXA": 0.0, "none": 0.9})


def test_aim_is_capped_when_no_none_is_left():
    aimed = aim({"XAXA": 1.0}, 0.4)  # XAXA alone asks at most a quarter of lines
    assert aimed == pytest.approx({"AABB": 0.0, "ABAB": 0.0, "XAXA": 1.0, "none": 0.0})


def test_aim_keeps_shares_with_no_rhyming_scheme_as_they_are():
    assert aim({"none": 1.0}, 0.1) == {"AABB": 0.0, "ABAB": 0.0, "XAXA": 0.0, "none": 1.0}
