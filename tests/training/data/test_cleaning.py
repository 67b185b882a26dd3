import pytest

from training.data.cleaning import clean_lyrics, non_song_reason, performer_tag, section_name

VERSE = "I stay out too late\nGot nothing in my brain"


def test_contributors_header_line_is_removed():
    raw = "102 ContributorsTranslationsEspañolDeutschShake It Off Lyrics[Verse 1]\n" + VERSE
    assert clean_lyrics(raw) == "[Verse]\n" + VERSE


def test_bare_title_lyrics_first_line_is_removed():
    assert clean_lyrics("the 1 Lyrics\n" + VERSE) == VERSE


def test_about_text_ending_in_read_more_is_removed():
    raw = ('5 ContributorsShake It Off Lyrics"Shake It Off" is the lead single of the album, '
           "released in August… Read More \n[Verse 1]\n" + VERSE)
    assert clean_lyrics(raw) == "[Verse]\n" + VERSE


def test_first_lyric_line_is_kept_when_there_is_no_header():
    assert clean_lyrics(VERSE) == VERSE


@pytest.mark.parametrize("footer", ["161Embed", "Embed", "EmbedShare URLCopyEmbedCopy", "3 Embed"])
def test_trailing_embed_is_removed(footer):
    assert clean_lyrics(VERSE + footer) == VERSE


def test_ticket_ad_is_removed_and_the_lines_it_joined_are_split():
    raw = "I stay out too lateSee Taylor Swift LiveGet tickets as low as $60[Chorus]\nShake it off"
    assert clean_lyrics(raw) == "[Verse]\nI stay out too late\n\n[Chorus]\nShake it off"


def test_you_might_also_like_is_removed_between_lines():
    raw = "And I'm lightning on my feetYou might also likeAnd that's what they don't see"
    assert clean_lyrics(raw) == "And I'm lightning on my feet\nAnd that's what they don't see"


def test_related_songs_block_is_removed():
    raw = VERSE + "\nRelated SongsBlank Space by Taylor Swift\nShake it off"
    assert clean_lyrics(raw) == VERSE + "\nShake it off"


def test_odd_spaces_and_zero_width_marks_are_normalized():
    raw = "I\u2005stay\u205fout\u00a0too\u200b late\u200d\nGot\u2009nothing\ufeff in my brain"
    assert clean_lyrics(raw) == VERSE


def test_mojibake_is_repaired():
    # UTF-8 read as Latin-1 and saved again, as one scrape holds: an apostrophe, an em dash, and
    # an "a" with a grave accent whose last byte reads as a no-break space.
    raw = "I don\u00e2\u0080\u0099t mind\u00e2\u0080\u0094voil\u00c3\u00a0 the caf\u00c3\u00a9"
    assert clean_lyrics(raw) == "I don't mind\u2014voil\u00e0 the caf\u00e9"


def test_curly_quotes_are_straightened():
    assert clean_lyrics("\u201cI\u2019m fine\u201d, she said") == "\"I'm fine\", she said"


@pytest.mark.parametrize(("label", "name"), [
    ("Verse 1", "Verse"), ("Verse 2: Taylor Swift", "Verse"), ("Chorus: Taylor Swift & Ed Sheeran",
    "Chorus"), ("Pre-Chorus", "Pre-Chorus"), ("Post-Chorus", "Post-Chorus"), ("Bridge", "Bridge"),
    ("Intro", "Intro"), ("Outro: Taylor Swift", "Outro"), ("Hook", "Chorus"),
    ("Refrain", "Chorus"), ("Instrumental Break", "Interlude"), ("Chorus x2", "Chorus"),
    ("Strophe 1", "Verse"), ("Couplet 2", "Verse"), ("Estribillo", "Chorus"), ("Puente", "Bridge"),
])
def test_section_headers_are_normalized(label, name):
    assert section_name(label) == name


def test_unknown_bracketed_notes_are_dropped():
    assert clean_lyrics("[Spoken]\nI stay out [?] too late") == "I stay out too late"


def test_a_note_in_parentheses_leaves_no_empty_parentheses():
    assert clean_lyrics("I stay out too late ([?])\nGot nothing ( [?] ) in my brain") == VERSE


def test_header_glued_to_a_line_starts_a_new_stanza():
    raw = "[Verse 1]\nI stay out too late[Chorus]\nShake it off"
    assert clean_lyrics(raw) == "[Verse]\nI stay out too late\n\n[Chorus]\nShake it off"


def test_stanzas_are_separated_by_exactly_one_blank_line():
    raw = "\n\nline one\n\n\n\nline two   \n  \nline three\n\n"
    assert clean_lyrics(raw) == "line one\n\nline two\n\nline three"


def test_header_without_lines_is_dropped():
    assert clean_lyrics("[Intro]\n\n[Verse 1]\n" + VERSE + "\n[Outro]") == "[Verse]\n" + VERSE


@pytest.mark.parametrize("title", [
    "1989 (Deluxe) [Booklet]", "Liner Notes", "Red Tracklist", "Eras Tour Setlist",
    "Interview with Zane Lowe", "Voice Memo", "Prologue (Folklore)", "Sweet Nothing (Instrumental)",
    "Spotify Playlist", "Album Artwork", "Credits",
])
def test_non_song_titles_are_dropped(title):
    long_text = "\n".join(["a line of some words here"] * 20)
    assert non_song_reason(title, long_text) is not None


@pytest.mark.parametrize("title", [
    "seven (Poem)", "Poem - A Lake in Winter", "The Mirrorball Poems", "Midnights [Poetry]",
    "Hometown - Read by the Artist", "A Letter, Read Aloud", "Spoken Word Interlude",
    "Rain (Spoken)", "Tour Diary - Reading", "Phone Call With Mom", "Voicemail From Dad",
    "Voice Message", "Closing Monologue", "Harbor Lights (Commentary)",
])
def test_poems_and_spoken_word_titles_are_dropped(title):
    long_text = "\n".join(["a line of some words here"] * 20)
    assert non_song_reason(title, long_text).startswith("not a song")


@pytest.mark.parametrize("title", ["Poetry in Motion", "Spoken For", "Reading Your Mind",
                                   "The Poets' Department", "Call It What You Want"])
def test_song_titles_that_only_look_spoken_are_kept(title):
    lyrics = "\n".join(f"this is line number {i} of the song we sing" for i in range(8))
    assert non_song_reason(title, lyrics) is None


def test_a_transcript_with_speakers_is_dropped():
    call = "\n".join(["Taylor: Hey, it's me, are you there", "Mom: I'm here, sweetheart, go on",
                      "Taylor: I wrote a new one today", "Mom: Play it for me"] * 3)
    assert non_song_reason("Untitled", call).startswith("a transcript")


def test_sentences_read_aloud_are_dropped_as_spoken_prose():
    sentence = ("I walked down to the water that morning and the whole town was still asleep "
                "behind me, and I thought about everything we said.")
    assert non_song_reason("December", "\n".join([sentence] * 6)).startswith("spoken prose")


def test_tiny_text_is_dropped():
    assert non_song_reason("Song", "just a few words\nand a line").startswith("too short")


def test_prose_is_dropped():
    paragraph = "word " * 60
    assert non_song_reason("Thank You", "\n".join([paragraph] * 5)).startswith("prose")


def test_a_real_song_is_kept():
    lyrics = "\n".join(f"this is line number {i} of the song we sing" for i in range(8))
    assert non_song_reason("Paper Lanterns", lyrics) is None


# Genius's watermark: Cyrillic letters drawn like Latin ones inside English words. Written with
# escapes so that the look-alikes stay visible in the source.
@pytest.mark.parametrize(("marked", "plain"), [
    ("whenev\u0435r th\u0435y go", "whenever they go"),  # Cyrillic e
    ("\u0430ll my \u043eld pr\u0456d\u0435", "all my old pride"),  # Cyrillic a, o, i, e
    ("\u0441\u0430n you s\u0435\u0435 the la\u0445 w\u0430\u0443", "can you see the lax way"),
    ("\u0440ull \u0458ust \u0455o", "pull just so"),  # Cyrillic er, je, dze
    ("\u0422\u041dE \u0412OAT", "THE BOAT"),  # Cyrillic capitals te, en, ve
    ("\u0406\u2019m out", "I'm out"),  # capital I: Unicode's data says "l"; we keep the case
    ("I'm \u0430 fool", "I'm a fool"),  # a lone look-alike between English words
    ("l\u03bfve and h\u03bfpe", "love and hope"),  # Greek omicron
])
def test_look_alike_letters_inside_latin_words_are_folded(marked, plain):
    assert clean_lyrics(marked) == plain


@pytest.mark.parametrize("line", [
    "\u042f \u043b\u044e\u0431\u043b\u044e \u0442\u0435\u0431\u044f",  # a Russian line
    "\u0441\u043e\u0440\u0443 \u0440\u0435\u043a\u0430",  # Russian words made of look-alikes too
    "\u0430 \u043e",  # Russian one-letter words, no English beside them
    "baby, \u0430 \u0442\u044b",  # English and Russian in one line: the Russian "a" stays
    "\u03b1\u03b3\u03ac\u03c0\u03b7 \u03bc\u03bf\u03c5",  # a Greek line
    "\uc0ac\ub791\ud574 saranghae",  # Hangul beside its romanisation
    "caf\u00e9 na\u00efve se\u00f1or",  # Latin letters with accents are Latin
])
def test_real_non_latin_words_are_left_as_they_are(line):
    assert clean_lyrics(line) == line


# Section quirks of real catalogues, in songs we wrote.
def test_a_headed_song_whose_first_verse_lost_its_header_gets_one():
    raw = VERSE + "\n\n[Chorus]\nShake it off\n\n[Verse 2]\nI go on too many dates"
    assert clean_lyrics(raw) == ("[Verse]\n" + VERSE + "\n\n[Chorus]\nShake it off\n\n"
                                 "[Verse]\nI go on too many dates")


def test_a_headerless_opening_before_the_first_verse_is_an_intro():
    raw = "Mm, yeah\nOkay\n\n[Verse 1]\n" + VERSE
    assert clean_lyrics(raw) == "[Intro]\nMm, yeah\nOkay\n\n[Verse]\n" + VERSE


def test_an_empty_section_between_two_others_is_dropped():
    raw = "[Verse 1]\n" + VERSE + "\n\n[Instrumental Break]\n\n[Chorus]\nShake it off"
    assert clean_lyrics(raw) == "[Verse]\n" + VERSE + "\n\n[Chorus]\nShake it off"


def test_performer_headers_open_verses_and_a_chorus_referred_to_is_written_out():
    # A rap song as Genius often has it: verses headed by who raps them, the hook written once
    # ("[Hook x2]" with no lines means: the hook again), a sample note, a hook sung by one member.
    raw = ("[Intro: Marsh Hollow]\nYeah, yeah\n\n"
           "[Marsh Hollow:]\nI came up slow on the east side\nNow the whole block ride\n\n"
           "[Hook x2]\nHold the line, hold the line\nEvery night we shine\n\n"
           "[kung fu sample]\nYour style is weak\n\n"
           "[Dusty Vale the Third]\n\nPaper in the wind and the rent due\nI kept it moving\n\n"
           "[Hook x2]\n\n"
           "[Chorus]\n[Dusty Vale (Marsh Hollow)]\nHold the line, hold it\n\n"
           "[Sample:]\n[Hook]")
    assert clean_lyrics(raw) == (
        "[Intro]\nYeah, yeah\n\n"
        "[Verse]\nI came up slow on the east side\nNow the whole block ride\n\n"
        "[Chorus]\nHold the line, hold the line\nEvery night we shine\n\n"
        "Your style is weak\n\n"
        "[Verse]\nPaper in the wind and the rent due\nI kept it moving\n\n"
        "[Chorus]\nHold the line, hold the line\nEvery night we shine\n\n"
        "[Chorus]\nHold the line, hold it\n\n"
        "[Chorus]\nHold the line, hold it")


def test_a_chorus_referred_to_before_any_chorus_is_dropped():
    assert clean_lyrics("[Chorus]\n\n[Verse 1]\n" + VERSE) == "[Verse]\n" + VERSE


@pytest.mark.parametrize(("label", "is_performer"), [
    ("Method Man:", True), ("Raekwon the Chef", True), ("U-God", True), ("RZA (Method Man)", True),
    ("Ol' Dirty Bastard:", True), ("Marsh Hollow & Dusty Vale", True), ("Del tha Funky Kid", True),
    ("kung fu sample", False), ("Sample:", False), ("Movie sample", False), ("x2", False),
    ("Repeat 1", False), ("?", False), ("Pre-Verse", False), ("Part II", False), ("All:", False),
    ("Sample - A Speech:", False), ("Skit: Two Friends", False), ("Buildup", False),
])
def test_performer_tags_are_told_from_notes(label, is_performer):
    assert performer_tag(label) is is_performer


def test_stage_directions_and_repeat_marks_are_dropped_and_braces_become_parentheses():
    raw = ("[Verse 1]\n*Door opening*\nI came home late (x2)\n(*Coughs*)\n"
           "Left the lights on {Yeah, yeah}\nTwo for the road x4\nI said f*** it, *and* ran")
    assert clean_lyrics(raw) == ("[Verse]\nI came home late\nLeft the lights on (Yeah, yeah)\n"
                                 "Two for the road\nI said f*** it, *and* ran")


def test_a_header_naming_many_performers_is_still_a_header():
    performers = "Juniper Vale, Marsh Hollow & Dusty Vale, Juniper Vale & Dusty Vale, (Marsh " \
                 "Hollow), All"
    assert clean_lyrics(f"[Verse 1]\n{VERSE}\n\n[Bridge: {performers}]\nShake it off") == (
        f"[Verse]\n{VERSE}\n\n[Bridge]\nShake it off")
