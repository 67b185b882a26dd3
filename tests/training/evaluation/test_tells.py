"""The can-you-tell score on synthetic stanzas: one template "artist", its own songs with their own
made-up names, and junk of the kinds a web-trained model writes (bullet lists, math exercises,
prose). No real lyrics."""

from __future__ import annotations

import random

from tests.conftest import SECOND_EXPORT
from training.data.lyric_files import read_export
from training.evaluation.tells import can_tell, real_vs_real, report_lines, song_stanzas, tell_apart

SUBJECTS = ["I", "You", "We", "She", "They", "Nobody"]
VERBS = ["remember", "chase", "hold", "lose", "find", "miss", "paint", "follow", "burn", "carry",
         "whisper", "keep"]
OBJECTS = ["the summer light", "your old jacket", "the river road", "a paper heart",
           "the midnight train", "the porch light", "our secret", "the last dance",
           "your name", "the faded photograph", "a borrowed sweater", "the empty hallway"]
TAILS = ["tonight", "again", "in the rain", "like before", "oh, oh", "all along",
         "for a while", "when you go", "baby", "till the morning", "in the dark", "so slow"]


def lyric_line(rng: random.Random, place: str | None = None) -> str:
    tail = f"in {place}" if place and rng.random() < 0.8 else rng.choice(TAILS)
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {tail}"


def lyric_song(rng: random.Random, places: list[str] | None = None) -> str:
    """A song of the template artist: verses, and a chorus sung three times."""
    def stanza() -> str:
        return "\n".join(lyric_line(rng, rng.choice(places) if places else None)
                         for _ in range(4))

    chorus = stanza()
    verses = [stanza() for _ in range(4)]
    return "\n\n".join(["[Verse 1]\n" + verses[0], "[Chorus]\n" + chorus,
                        "[Verse 2]\n" + verses[1], "[Chorus]\n" + chorus, verses[2], verses[3],
                        "[Chorus]\n" + chorus])


def made_up_word(rng: random.Random) -> str:
    return "".join(rng.choice(["ka", "lo", "vem", "tra", "sil", "mor", "dun", "e", "qua"])
                   for _ in range(3)).capitalize()


def lyric_songs(count: int, seed: int, own_places: bool = False) -> list[str]:
    rng = random.Random(seed)
    return [lyric_song(rng, [made_up_word(rng) for _ in range(3)] if own_places else None)
            for _ in range(count)]


def junk_stanza(rng: random.Random) -> str:
    kind = rng.choice(["bullets", "math", "prose"])
    if kind == "bullets":
        return "\n".join(f"- {rng.choice(['Pipe', 'Add', 'Sprinkle', 'Arrange'])} "
                         f"{rng.choice(['pink', 'white', 'gold', 'mint'])} "
                         f"{rng.choice(['buttercream', 'sugar pearls', 'fondant', 'berries'])} "
                         f"around the {rng.choice(['edge', 'top', 'base', 'middle'])}"
                         for _ in range(4))
    if kind == "math":
        return "\n".join(f"{i}. Solve for x: {rng.randint(2, 9)}x + {rng.randint(1, 30)} = "
                         f"{rng.randint(31, 90)}" for i in range(1, 5))
    return "\n".join(f"The {rng.choice(['committee', 'study', 'author', 'company'])} "
                     f"{rng.choice(['reviewed', 'described', 'published', 'explained'])} "
                     f"the {rng.choice(['results', 'proposal', 'method', 'report'])} in detail. "
                     f"It was {rng.choice(['approved', 'updated', 'released'])} on "
                     f"{rng.choice(['Monday', 'Tuesday', 'Friday'])}, as expected."
                     for _ in range(3))


def junk_songs(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["\n\n".join(junk_stanza(rng) for _ in range(5)) for _ in range(count)]


def test_a_songs_stanzas_drop_headers_and_count_a_chorus_sung_again_once():
    song = "[Verse 1]\nOne line\nTwo line\n\n[Chorus]\nSing it\nSing it loud\n\n" \
           "[Verse 2]\nThree line\n[Chorus]\nSing it\nsing it loud"
    assert song_stanzas(song) == ["One line\nTwo line", "Sing it\nSing it loud", "Three line"]


def test_two_samples_of_one_artist_cannot_be_told_apart():
    told = tell_apart(lyric_songs(12, seed=1), lyric_songs(12, seed=2))
    assert told.per_side == 12 * 5 and told.songs == (12, 12)
    assert 0.35 <= told.accuracy <= 0.65


def test_lyrics_and_junk_are_told_apart():
    told = tell_apart(lyric_songs(12, seed=1), junk_songs(12, seed=3))
    assert told.accuracy >= 0.95


def test_sides_are_balanced_so_that_one_half_means_chance():
    # 40 songs against 6 of the same artist: always guessing "real" would score 0.87.
    told = tell_apart(lyric_songs(40, seed=1), lyric_songs(6, seed=2))
    assert told.per_side == 6 * 5
    assert 0.3 <= told.accuracy <= 0.65


def test_songs_kept_whole_in_a_fold_stop_their_own_words_from_telling_them_apart():
    songs = lyric_songs(16, seed=4, own_places=True)
    # Each song's stanzas share its made-up places: split by stanza, the classifier learns them.
    assert real_vs_real(songs, grouped=False).accuracy >= 0.8
    floor = real_vs_real(songs)
    assert floor.songs == (8, 8) and 0.3 <= floor.accuracy <= 0.65


def test_the_giveaways_are_the_n_grams_of_each_side():
    lyrics, junk = lyric_songs(12, seed=1), junk_songs(12, seed=3)
    told = tell_apart(lyrics, junk)
    assert len(told.giveaways) == len(told.real_giveaways) == 10
    assert "." in told.giveaways  # prose and exercises end their sentences
    lyric_text, junk_text = "\n".join(lyrics).casefold(), "\n".join(junk).casefold()
    for gram in told.giveaways:
        assert gram.replace(" ", "").replace("⏎", "\n") in junk_text.replace(" ", "")
    for gram in told.real_giveaways:
        assert gram.replace(" ", "").replace("⏎", "\n") in lyric_text.replace(" ", "")


def test_two_songs_a_side_are_the_fewest_that_give_a_score():
    told = tell_apart(lyric_songs(2, seed=1), lyric_songs(2, seed=2))
    assert told.folds == 2 and told.accuracy is not None
    assert real_vs_real(lyric_songs(4, seed=1)).songs == (2, 2)


def test_too_few_songs_give_no_score_and_say_why():
    told = tell_apart(lyric_songs(5, seed=1), lyric_songs(1, seed=2))
    assert told.accuracy is None and told.reason and "2 or more songs" in told.reason
    assert "reason" in told.to_json()
    assert real_vs_real(lyric_songs(3, seed=1)).accuracy is None


def test_the_report_gives_each_score_beside_the_floor_and_lists_the_giveaways():
    lyrics = lyric_songs(12, seed=1)
    scores = can_tell(lyrics, {"fine_tuned": junk_songs(12, seed=3)})
    assert scores["real_vs_real"]["accuracy"] < 0.65 and scores["fine_tuned"]["accuracy"] >= 0.95
    text = "\n".join(report_lines(scores, {"fine_tuned": "fine-tuned"}))
    assert "| real vs real (floor) | 0." in text and "| fine-tuned | 1.00 ± 0.00 |" in text
    listed = text.split("What gives fine-tuned stanzas away: ")[1].split("; the artist's: ")
    assert listed[0] == ", ".join(f"`{g}`" for g in scores["fine_tuned"]["giveaways"])
    assert "." in scores["fine_tuned"]["giveaways"]


def test_the_second_example_artist_cannot_be_told_from_itself():
    # Written to a real catalogue's shape: long songs, a chorus in each, few rhymes.
    floor = real_vs_real([song.lyrics for song in read_export(SECOND_EXPORT)], repeats=5)
    assert floor.per_side >= 80 and 0.4 <= floor.accuracy <= 0.6
