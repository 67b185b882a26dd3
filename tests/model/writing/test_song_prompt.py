"""What a line step is fed: the whole song so far, append-only, early stanzas dropped only where
the song outgrows the model's context, and never an empty prompt or a bare header."""

import asyncio
import itertools
from dataclasses import replace

import pytest
import torch

from model.lyrics.style import GENERIC
from model.serving import backends
from model.serving.protocol import Backend, Served
from model.serving.worker import Worker
from model.writing.composer import Composer
from model.writing.request import Request
from model.writing.songprompt import SongPrompt, estimate, song_text

HEAD = "<|album:Red|>\n"


def test_a_line_is_asked_for_after_the_whole_song_and_its_own_lines():
    sections = [("Verse 1", ["a", "b"]), ("Chorus", ["c", "d"])]
    assert song_text(sections, "Verse 2", ["e"], True) == \
        "[Verse]\na\nb\n\n[Chorus]\nc\nd\n\n[Verse]\ne\n"
    assert song_text(sections, "Verse 2", [], False) == "a\nb\n\nc\nd\n\n"
    assert song_text([], "Verse 1", ["x"], True) == "[Verse]\nx\n"
    long = [("Verse 1", [str(i) for i in range(12)])]  # past the old 6-line window: still fed
    assert song_text(long, "Chorus", [], True) == \
        "[Verse]\n" + "".join(f"{i}\n" for i in range(12)) + "\n[Chorus]\n"


def write_song(prompt: SongPrompt, form, length, headers, limit):
    """Write a song's lines as the composer does; return each line step's prompt."""
    sections, asked, refrains = [], [], {}
    for number, label in enumerate(form):
        if label in refrains:
            sections.append((label, refrains[label]))
            continue
        lines = []
        while len(lines) < length:
            asked.append(prompt.text(HEAD, sections, label, lines, headers, limit))
            lines.append(f"line {len(lines)} of section {number} goes here")
        sections.append((label, lines))
        if label == "Chorus":
            refrains[label] = lines
    return asked


@pytest.mark.parametrize("headers", [True, False])
def test_each_prompt_is_the_one_before_and_the_line_chosen_since(headers):
    form = ("Verse 1", "Chorus", "Verse 2", "Chorus", "Bridge", "Chorus")
    asked = write_song(SongPrompt(), form, 8, headers, limit=10**6)
    assert asked[0] == HEAD + ("[Verse]\n" if headers else "")
    for before, after in itertools.pairwise(asked):
        grown = after[len(before):]
        assert after.startswith(before)  # an engine that keeps the prefix reads only this
        line = grown.split("\n")[0]
        assert line.startswith("line ") and grown.endswith("\n")
    # The chorus sung again is fed before the bridge, as the model saw songs in training.
    bridge = asked[-1]
    assert bridge.count("line 0 of section 1 goes here") == 2


def test_a_song_past_the_context_drops_whole_early_stanzas_once_a_stanza_at_most():
    form = ("Verse 1", "Chorus", "Verse 2", "Chorus", "Verse 3", "Chorus", "Bridge", "Chorus")
    limit = 300  # tokens (estimated): about three of these 8-line stanzas
    prompt = SongPrompt()
    asked = write_song(prompt, form, 8, True, limit)
    drops = [i for i, (a, b) in enumerate(itertools.pairwise(asked))
             if not b.startswith(a)]
    assert drops and prompt.dropped >= 2
    assert all(estimate(text) <= limit for text in asked)
    # Between two drops the song grows by a whole stanza at least (8 lines, one step each).
    assert all(b - a >= 8 for a, b in itertools.pairwise(drops))
    for index in drops:  # a drop keeps the album line and starts at a section's header
        assert asked[index + 1].startswith(HEAD + "[")


def test_a_section_longer_than_the_context_is_left_to_the_backends_fit():
    prompt = SongPrompt()
    sections = [("Verse 1", ["a b c"] * 4)]
    text = prompt.text(HEAD, sections, "Chorus", ["x y z"] * 40, True, limit=50)
    assert prompt.dropped == 1 and text == HEAD + song_text([], "Chorus", ["x y z"] * 40, True)


def test_a_sections_first_line_keeps_the_section_before_however_long():
    # A tiny model's context held less than one long verse: every section was dropped, and the
    # chorus's first line was asked after "<|album:Red|>\n[Chorus]" alone.
    prompt = SongPrompt()
    verse = [("Verse 1", ["we lit paper lanterns on the long pier"] * 8)]
    text = prompt.text(HEAD, verse, "Chorus", [], True, limit=20)
    assert prompt.dropped == 0 and text == HEAD + song_text(verse, "Chorus", [], True)


class Recording(Backend):
    """A real backend that writes down every request the worker checks (it checks each one
    before generating it), then lets the real one check and generate it."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.info = inner.info
        self.requests = []

    def check(self, request):
        self.requests.append(request)
        self.inner.check(request)

    def generate(self, batch):
        return self.inner.generate(batch)


def fed_after_a_lyric(prompt: str) -> bool:
    """Say whether a prompt ends in a lyric line, or in a header right after a lyric line."""
    lines = [line for line in prompt.split("\n") if line.strip()]
    if not lines:
        return False
    if lines[-1].startswith("["):
        return len(lines) > 1 and not lines[-2].startswith(("[", "<|album:"))
    return not lines[-1].startswith("<|album:")


# Real verses: 8 lines. No habits: the tiny random model writes any character, and this test
# is about what each line step is fed, not which lines are kept.
LONG = replace(GENERIC, stanza_lines=8.0, lines_per_song=32.0, characters=None, shapes=None)
FORM = ("Verse 1", "Chorus", "Verse 2", "Chorus")


@pytest.mark.parametrize(("header_rate", "album"), [(0.0, None), (1.0, "Red")])
def test_a_song_of_long_sections_feeds_every_line_after_a_lyric_line(tiny_albums, header_rate,
                                                                      album):
    recording = Recording(backends.load("transformers", tiny_albums, "tiny").backend)
    served = Served(recording, None, replace(LONG, header_rate=header_rate), FORM)

    async def main():
        worker = Worker(lambda: served, batch_window_ms=1)
        worker.start()
        await worker.ready()
        torch.manual_seed(3)
        try:
            return await Composer(worker, candidates=2).write(
                Request("We lit paper lanterns", album=album, form="song"))
        finally:
            await worker.close()

    (result,) = asyncio.run(main())
    blocks = [block.split("\n")[1:] for block in result.text.split("\n\n")]
    assert len(blocks) == 4 and all(len(lines) == 8 for lines in blocks)
    assert all(request.prompt.strip() for request in recording.requests)
    for request in recording.requests:
        assert fed_after_a_lyric(request.prompt), request.prompt[-200:]
    steps = [r.prompt for r in recording.requests if not r.score]
    assert len(steps) >= 8 + 8 + 8 - 1  # verse 1, the chorus, verse 2: a step a line at least
    # Append-only but where the song outgrew the tiny model's 256 tokens: once a stanza at most.
    drops = sum(not b.startswith(a) for a, b in itertools.pairwise(steps))
    assert drops <= 3
