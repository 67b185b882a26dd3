"""What a writing streams while it works (model/writing/events.py): each chosen line, each
finished section, a repeated chorus whole; and the ranking steps its Result records."""

import asyncio

import pytest

from model.errors import Stopped
from model.lyrics.rhyme import RhymeBook
from model.serving.worker import Worker
from model.writing.composer import Composer
from model.writing.events import LineEvent, SectionEvent
from model.writing.ranking import FEATURES
from model.writing.request import Request
from tests.model.fake_openai import FakeInference
from tests.model.writing.test_composer import _sections, remote, run, verse_of, write


def stream(served, request, candidates):
    """Write `request` through a real worker and composer; return what it streamed (every
    event) and its results."""
    async def main():
        worker = Worker(served, batch_window_ms=1)
        worker.start()
        await worker.ready()
        try:
            writing = Composer(worker, candidates=candidates).start(request)
            return [event async for event in writing.events()], await writing
        finally:
            await worker.close()

    return run(main())


def test_events_come_line_by_line_then_the_section_and_a_repeated_chorus_whole(tiny_albums):
    fake = FakeInference().start()
    try:
        events, (result,) = stream(remote(fake, tiny_albums, RhymeBook({"none": 1.0}, {})),
                                   Request("First line", form="song"), candidates=2)
    finally:
        fake.close()
    shown = [(type(e).__name__, e.section if isinstance(e, LineEvent) else e.label,
              e.text if isinstance(e, LineEvent) else e.lines) for e in events]
    chorus = ("line 0 of song 2", "line 0 of song 3")
    assert shown == [
        ("LineEvent", "Verse 1", "First line"), ("LineEvent", "Verse 1", "line 0 of song 1"),
        ("SectionEvent", "Verse 1", ("First line", "line 0 of song 1")),
        ("LineEvent", "Chorus", chorus[0]), ("LineEvent", "Chorus", chorus[1]),
        ("SectionEvent", "Chorus", chorus),
        ("LineEvent", "Verse 2", "line 0 of song 4"), ("LineEvent", "Verse 2", "line 0 of song 5"),
        ("SectionEvent", "Verse 2", ("line 0 of song 4", "line 0 of song 5")),
        ("SectionEvent", "Chorus", chorus)]
    assert all(e.slot == 0 for e in events)
    assert [lines for _, lines in _sections(result.text)] == \
        [list(e.lines) for e in events if isinstance(e, SectionEvent)]


def test_every_line_step_is_recorded_with_its_options_and_the_one_kept(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(remote(fake, tiny_albums, RhymeBook({"none": 1.0}, {})),
                           Request("First line", form="song"), candidates=2))
    finally:
        fake.close()
    assert [(s.section, s.line) for s in result.steps] == [
        ("Verse 1", 1), ("Chorus", 0), ("Chorus", 1), ("Verse 2", 0), ("Verse 2", 1)]
    for step in result.steps:
        assert [o.text for o in step.options][1].startswith("line 1 of song")
        assert step.kept == 0 and step.options[0].text in result.text  # the likelier one
        assert set(step.options[0].features) == set(FEATURES)
        assert step.options[0].features["likelihood"] == -1.5  # the fake's mean logprob


def test_a_verse_streams_its_lines_then_itself_as_one_section(tiny_albums):
    fake = FakeInference().start()
    try:
        events, (result,) = stream(verse_of(fake, tiny_albums), Request("We lit"), candidates=3)
    finally:
        fake.close()
    lines = result.text.split("\n")
    assert events == [*(LineEvent(0, "Verse", line) for line in lines),
                      SectionEvent(0, "Verse", tuple(lines))]
    assert len(lines) == 4 and all(len(step.options) == 3 for step in result.steps)


def test_nothing_is_streamed_before_the_first_step_is_written(tiny_albums):
    fake = FakeInference().start()

    async def main():
        worker = Worker(verse_of(fake, tiny_albums), batch_window_ms=1)
        writing = Composer(worker, candidates=2).start(Request("Our first line", lines=2))
        # Queued, not begun: a caller shows the place in the queue, not the user's own line.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(writing.events()), 0.2)
        assert writing.position() == 1
        worker.start()
        try:
            return [e async for e in writing.events()], await writing
        finally:
            await worker.close()

    try:
        (first, second, section), (result,) = run(main())
    finally:
        fake.close()
    opening, written = result.text.split("\n")
    assert opening == "Our first line" and written.startswith("line 0 of ")
    assert (first, second) == (LineEvent(0, "Verse", opening), LineEvent(0, "Verse", written))
    assert section == SectionEvent(0, "Verse", (opening, written))


def test_a_verse_under_way_is_finished_after_the_worker_stops_taking_work(tiny_albums):
    fake = FakeInference().start()

    async def main():
        worker = Worker(verse_of(fake, tiny_albums), batch_window_ms=1)
        worker.start()
        await worker.ready()
        composer = Composer(worker)
        writing = composer.start(Request("First line", lines=3))
        worker.stop()  # shutting down: in-flight work drains, its next steps included
        with pytest.raises(Stopped):
            composer.start(Request("Too late"))
        try:
            return await writing
        finally:
            await worker.close()

    try:
        (result,) = run(main())
    finally:
        fake.close()
    assert len(result.text.split("\n")) == 3 and result.attempts == 2
