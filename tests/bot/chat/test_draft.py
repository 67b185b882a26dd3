"""The growing text of a song, rebuilt from the composer's events."""

import itertools

from bot.chat.draft import Draft
from model.writing.composer import LineEvent, SectionEvent


def test_a_draft_grows_line_by_line_and_reads_like_the_finished_song():
    draft = Draft("song")
    texts = []
    for event in [LineEvent(0, "Verse 1", "Harbor lights"), LineEvent(0, "Verse 1", "on the bay"),
                  SectionEvent(0, "Verse 1", ("Harbor lights", "on the bay")),
                  LineEvent(1, "Verse 1", "another song's line"),
                  LineEvent(0, "Chorus", "stay"), SectionEvent(0, "Chorus", ("stay",)),
                  SectionEvent(0, "Chorus", ("stay",))]:  # the chorus repeated, whole
        draft.add(event)
        texts.append(draft.text)
    assert texts[0] == "[Verse 1]\nHarbor lights"
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert draft.text == "[Verse 1]\nHarbor lights\non the bay\n\n[Chorus]\nstay\n\n[Chorus]\nstay"


def test_only_new_lines_count_as_growth():
    draft = Draft("verse")
    assert draft.add(LineEvent(1, None, "someone else's")) is False
    assert draft.add(SectionEvent(0, "Verse", ("a", "b"))) is True
    assert draft.text == "a\nb"
