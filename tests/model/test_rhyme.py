"""Rhymes, stanza schemes and the rhyme plan, on constructed lines."""

import random

import pytest

from model.rhyme import (
    RhymeBook,
    aim,
    asked,
    near_rhymes,
    plan,
    quality,
    rhyme_book,
    scheme_of,
    schemes,
)


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


def test_reendings_put_the_artists_own_end_words_first():
    book = rhyme_book(["I shine\nall mine\nso fine\nstill mine"])
    assert book.end_words == {"shine": 1, "mine": 2, "fine": 1}
    words = book.reendings("line")
    assert words[:3] == ["mine", "shine", "fine"] and len(words) == 8
    assert all(quality(w, "line") > 0 for w in words)
    assert RhymeBook({}, {}).reendings("zzzzq") == []


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


def test_aim_lowers_rhyming_schemes_for_an_artist_who_rhymes_less_than_planned():
    aimed = aim({"AABB": 0.5, "ABAB": 0.0, "XAXA": 0.0, "none": 0.5}, 0.05)
    assert aimed == pytest.approx({"AABB": 0.1, "ABAB": 0.0, "XAXA": 0.0, "none": 0.9})


def test_aim_is_capped_when_no_none_is_left():
    aimed = aim({"XAXA": 1.0}, 0.4)  # XAXA alone asks at most a quarter of lines
    assert aimed == pytest.approx({"AABB": 0.0, "ABAB": 0.0, "XAXA": 1.0, "none": 0.0})


def test_aim_keeps_shares_with_no_rhyming_scheme_as_they_are():
    assert aim({"none": 1.0}, 0.1) == {"AABB": 0.0, "ABAB": 0.0, "XAXA": 0.0, "none": 1.0}
