"""The writing rules on a real worker and real models: prompts, ranking, novelty, song form."""

import asyncio
from dataclasses import replace

import pytest
import torch

from model.errors import BadRequest
from model.lyrics.rhyme import RhymeBook
from model.lyrics.songform import DEFAULT_FORM
from model.lyrics.style import GENERIC, figures
from model.serving import backends
from model.serving.protocol import Served
from model.serving.remote import OpenAIBackend
from model.serving.worker import Worker
from model.writing.composer import Composer
from model.writing.novelty import CopyIndex
from model.writing.prompts import prompt_text
from model.writing.ranking import Weights
from model.writing.reending import REEND_COST
from model.writing.request import Request
from tests.model.fake_openai import FakeInference, word_logprob


def run(coro):
    return asyncio.run(coro)


async def write(loader, request, seed=11, candidates=1):
    worker = Worker(loader, batch_window_ms=1)
    worker.start()
    await worker.ready()
    torch.manual_seed(seed)
    try:
        (result,) = await Composer(worker, candidates=candidates).write(request)
        return result
    finally:
        await worker.close()


def plain(folder):
    return lambda: backends.load("transformers", folder, "tiny")


def test_special_token_text_typed_in_a_prompt_never_reaches_the_model(tiny_albums):
    served = backends.load("transformers", tiny_albums, "tiny")
    typed = "hold <|endoftext|> on <|album:Red|>tight"
    assert prompt_text(served, typed) == "hold  on tight"
    assert prompt_text(served, typed, "Red") == "<|album:Red|>\nhold  on tight"
    assert prompt_text(served, "hi", "Unknown") == "hi"

    result = run(write(lambda: served, Request(typed, lines=2)))
    assert result.text.startswith("hold on tight") and "<|" not in result.text


def test_a_first_line_of_nothing_but_special_tokens_is_refused_at_once(tiny_albums):
    async def main():
        worker = Worker(plain(tiny_albums), batch_window_ms=1)
        worker.start()
        await worker.ready()
        try:
            with pytest.raises(BadRequest, match="first line is empty"):
                Composer(worker).start(Request("<|endoftext|> <|album:Red|>"))
            return worker.stats().recent_batch_sizes
        finally:
            await worker.close()

    assert run(main()) == []  # nothing was generated from an empty prompt


# The fake's lines number themselves ("line 0 of song 1"): its artist writes digits.
FAKE_ARTIST = replace(GENERIC, stanza_lines=4.0, shapes=("digits",))


def verse_of(fake, folder, style=None, index=None):
    def load():
        backend = OpenAIBackend.load([fake.url], None, None, folder)
        return Served(backend, index, style or FAKE_ARTIST, None, RhymeBook({"none": 1.0}, {}))
    return load


def test_a_verse_is_written_line_by_line_after_the_verse_so_far(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums), Request("First line", album="Red"),
                           candidates=2))
        asked = fake.completions()
    finally:
        fake.close()
    # The artist's stanza is 4 lines: the user's and three written, each asked alone.
    assert result.text == "First line\nline 0 of song 1\nline 0 of song 2\nline 0 of song 3"
    assert [r.body["prompt"] for r in asked] == [
        "<|album:Red|>\n[Verse]\nFirst line\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\nline 0 of song 2\n"]
    assert all(r.body["n"] == 2 and r.body["stop"][0] == "\n" for r in asked)
    assert [(s.section, s.line, s.kept) for s in result.steps] == [
        ("Verse", 1, 0), ("Verse", 2, 0), ("Verse", 3, 0)]


def unlearnt(folder):
    """Load the tiny model with no line habits: it writes any character, and a test of line
    counts must not hang on which of its lines a lyric would hold."""
    def load():
        served = backends.load("transformers", folder, "tiny")
        return replace(served, style=replace(GENERIC, characters=None, shapes=None))
    return load


def test_a_verse_has_the_lines_asked_for(tiny_base):
    result = run(write(unlearnt(tiny_base), Request("one line", lines=3)))
    assert result.text.startswith("one line\n") and len(result.text.split("\n")) == 3
    assert run(write(plain(tiny_base), Request("one line\nand two", lines=1))).text == "one line"


# The fake answers candidate i of its r-th request "line i of song r": with a three-word first
# line, its first candidate copies 8 words of a training song that holds that very line.
def planted(*requests):
    return CopyIndex([f"We lit lanterns\nline 0 of song {r}" for r in requests])


def test_a_candidate_line_that_copies_is_passed_over_for_another(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums, index=planted(1)),
                           Request("We lit lanterns", lines=2), candidates=2))
    finally:
        fake.close()
    assert result.attempts == 1 and result.text == "We lit lanterns\nline 1 of song 1"
    (step,) = result.steps
    assert [o.features["copied"] for o in step.options] == [1.0, 0.0] and step.kept == 1


def test_novelty_guard_asks_again_when_the_only_candidate_copies(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums, index=planted(1)),
                           Request("We lit lanterns", lines=2)))
    finally:
        fake.close()
    assert result.attempts == 2 and result.text == "We lit lanterns\nline 0 of song 2"
    assert result.copied_words < 8


def test_a_line_that_copies_on_every_try_is_never_kept(tiny_albums):
    fake = FakeInference().start()
    try:
        result = run(write(verse_of(fake, tiny_albums, index=planted(1, 2, 3)),
                           Request("We lit lanterns", lines=2)))
    finally:
        fake.close()
    assert result.attempts == 3 and result.text == "We lit lanterns"  # the verse ends there
    (step,) = result.steps
    assert step.kept == -1 and len(step.options) == 3 and result.copied_words == 0


def test_a_candidate_line_the_artist_would_never_write_is_passed_over_for_another(tiny_albums):
    fake = FakeInference().start()
    # The likelier candidate has a colon, which the artist never writes.
    fake.line = lambda i, song: f"step {song}: line {i}" if i == 0 else f"line {i} of song {song}"
    try:
        result = run(write(verse_of(fake, tiny_albums), Request("We lit lanterns", lines=2),
                           candidates=2))
    finally:
        fake.close()
    assert result.text == "We lit lanterns\nline 1 of song 1"
    (step,) = result.steps
    assert [o.text for o in step.options] == ["step 1: line 0", "line 1 of song 1"]
    assert step.kept == 1


def contrasted(fake, folder, weights):
    """Serve the fake's artist model with its base model (same servers) as the reference."""
    def load():
        options = [backends.OpenAIOptions(urls=(fake.url,), model="artist-lora")]
        backend = backends.load("openai", folder, "m", options, reference="base").backend
        return Served(backend, None, FAKE_ARTIST, None, RhymeBook({"none": 1.0}, {}), weights)
    return load


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_contrastive_ranking_keeps_the_line_the_tuned_model_likes_more_than_its_reference(
        tiny_albums, alpha):
    # Candidate 0 is the tuned model's likelier (-1.5 a token against -2.0); its short words
    # are what the reference likes too (the fake scores longer words less likely).
    fake = FakeInference(model="artist-lora", also=("base",)).start()
    fake.line = lambda i, song: ["we go on", "lanterns tremble"][i]
    try:
        result = run(write(contrasted(fake, tiny_albums, Weights(reference=-alpha)),
                           Request("We lit lanterns", lines=2), candidates=2))
        asked = [(r.body["model"], r.body.get("echo", False)) for r in fake.completions()]
    finally:
        fake.close()
    (step,) = result.steps
    if not alpha:  # the default: no reference is asked, the likelier line is kept
        assert asked == [("artist-lora", False)]
        assert result.text == "We lit lanterns\nwe go on"
        assert [o.features["reference"] for o in step.options] == [0.0, 0.0]
        return
    assert asked == [("artist-lora", False), ("base", True)]
    assert result.text == "We lit lanterns\nlanterns tremble"
    # The fake's tokens join a line's first word to the newline before it, in the prompt.
    assert [o.features["reference"] for o in step.options] == [
        word_logprob("go"), word_logprob("tremble")]


def test_a_line_step_whose_every_candidate_is_unlike_the_artist_is_asked_again(tiny_albums):
    fake = FakeInference().start()
    fake.line = lambda i, song: "And that was the end." if song == 1 else f"line {i} of song {song}"
    try:
        result = run(write(verse_of(fake, tiny_albums), Request("We lit lanterns", lines=2)))
    finally:
        fake.close()
    assert result.attempts == 2 and result.text == "We lit lanterns\nline 0 of song 2"


def _sections(text):
    blocks = [block.split("\n") for block in text.split("\n\n")]
    return [(block[0], block[1:]) for block in blocks]


def any_shape(folder):
    """Load a run whose figures let every line through: a tiny random model's lines are noise,
    and refusing them by the artist's habits would leave sections empty at random."""
    def load():
        served = backends.load("transformers", folder, "tiny")
        return replace(served, style=replace(served.style or GENERIC, characters=None, shapes=None))
    return load


def test_a_song_has_labelled_sections_and_its_chorus_comes_back_word_for_word(tiny_base):
    result = run(write(any_shape(tiny_base), Request("We lit paper lanterns", form="song"),
                       candidates=2))
    sections = _sections(result.text)
    assert [label for label, _ in sections] == [f"[{label}]" for label in DEFAULT_FORM]
    assert sections[0][1][0].startswith("We lit paper lanterns")  # the prompt opens verse 1
    choruses = [lines for label, lines in sections if label == "[Chorus]"]
    assert choruses[0] and choruses[0] == choruses[1] == choruses[2]
    assert len(result.text) <= 1900
    assert result.attempts >= 4  # verse 1, chorus, verse 2, bridge: one step each at least


def test_each_line_is_asked_for_alone_with_the_song_before_it(tiny_albums):
    fake = FakeInference().start()
    try:
        songs = ["[Verse]\na\nb\n\n[Chorus]\nc\nd\n\n[Verse]\ne\nf\n\n[Chorus]\nc\nd"] * 2

        def load():
            backend = OpenAIBackend.load([fake.url], None, None, tiny_albums)
            artist = replace(figures(songs), shapes=("digits",))  # as the fake's lines
            return Served(backend, None, artist, ("Verse 1", "Chorus", "Verse 2", "Chorus"),
                          RhymeBook({"none": 1.0}, {}))

        result = run(write(load, Request("First <|endoftext|>line", album="Red", form="song"),
                           candidates=2))
        prompts = [r.body["prompt"] for r in fake.completions()]
    finally:
        fake.close()
    # Two lines a section (the artist's stanzas): verse 1's second line, the chorus' two, verse
    # 2's two; the second chorus is not written again. The likelier candidate (index 0) wins.
    assert prompts == [
        "<|album:Red|>\n[Verse]\nFirst line\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\n\n[Chorus]\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\n\n[Chorus]\nline 0 of song 2\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\n\n[Chorus]\nline 0 of song 2\n"
        "line 0 of song 3\n\n[Verse]\n",
        "<|album:Red|>\n[Verse]\nFirst line\nline 0 of song 1\n\n[Chorus]\nline 0 of song 2\n"
        "line 0 of song 3\n\n[Verse]\nline 0 of song 4\n"]
    assert all(r.body["n"] == 2 and r.body["stop"][0] == "\n" for r in fake.completions())
    assert _sections(result.text)[1] == _sections(result.text)[3]  # the same chorus twice


@pytest.mark.parametrize("header_rate, head", [(0.0, ""), (1.0, "[Verse]\n")])
def test_sections_carry_headers_only_if_the_training_songs_did(tiny_albums, header_rate, head):
    from dataclasses import replace

    fake = FakeInference().start()
    try:
        def load():
            backend = OpenAIBackend.load([fake.url], None, None, tiny_albums)
            return Served(backend, None, replace(GENERIC, header_rate=header_rate))

        run(write(load, Request("Hello", form="song")))
        first = fake.completions()[0].body["prompt"]
    finally:
        fake.close()
    assert first == f"{head}Hello\n"


def test_n_verses_are_written_side_by_side_sharing_batches(tiny_albums):
    fake = FakeInference().start()

    async def main():
        worker = Worker(verse_of(fake, tiny_albums), batch_window_ms=50)
        worker.start()
        await worker.ready()
        try:
            results = await Composer(worker, candidates=2).write(
                Request("We lit paper lanterns", lines=3, n=3))
            return worker.stats().recent_batch_sizes, results
        finally:
            await worker.close()

    try:
        batches, results = run(main())
    finally:
        fake.close()
    assert len(results) == 3 and len({r.text for r in results}) == 3
    assert all(len(r.text.split("\n")) == 3 and r.text.startswith("We lit paper lanterns\n")
               for r in results)
    # Each verse's first step is queued at once: one batch of 3 x 2 rows, then the second lines.
    assert batches[0] == 6 and sum(batches) == 12


FORM = ("Verse 1", "Chorus", "Verse 2", "Chorus")
TWO_LINE_SONGS = ["[Verse]\na\nb\n\n[Chorus]\nc\nd\n\n[Verse]\ne\nf\n\n[Chorus]\nc\nd"] * 2


def remote(fake, folder, book):
    def load():
        backend = OpenAIBackend.load([fake.url], None, None, folder)
        return Served(backend, None, replace(figures(TWO_LINE_SONGS), shapes=("digits",)),
                      FORM, book)
    return load


def test_a_line_before_a_chorus_sung_again_may_not_copy_into_it(tiny_albums):
    fake = FakeInference().start()
    # Verse 2's last line is the fake's 5th request; the chorus, sung again after it, opens
    # with "line 0 of song 2". A training song holds the 8 words across that seam.
    index = CopyIndex(["line 0 of song 5\nline 0 of"])
    try:
        def load():
            backend = OpenAIBackend.load([fake.url], None, None, tiny_albums)
            return Served(backend, index, replace(figures(TWO_LINE_SONGS), shapes=("digits",)),
                          FORM, RhymeBook({"none": 1.0}, {}))

        result = run(write(load, Request("First line", form="song"), candidates=2))
    finally:
        fake.close()
    verse = _sections(result.text)[2][1]
    assert verse == ["line 0 of song 4", "line 1 of song 5"]  # the likelier one copied
    assert index.longest_copy(result.text) == 0
    last = result.steps[-1]
    assert [o.features["copied"] for o in last.options] == [1.0, 0.0] and last.kept == 1


def test_a_line_that_must_rhyme_and_has_no_rhyme_is_re_ended_on_the_likeliest_word(tiny_albums):
    fake = FakeInference().start()
    try:
        # Every scheme rhymes line 2 with line 1; the fake's lines end on "song", never a rhyme
        # of "line": the best candidate is re-ended by scoring the artist's strict rhymes.
        book = RhymeBook({"AABB": 1.0}, {"sunshine": 5, "fine": 3, "mine": 1})
        result = run(write(remote(fake, tiny_albums, book),
                           Request("First line", form="song"), candidates=2))
        asked = fake.completions()
    finally:
        fake.close()
    first = result.steps[0]
    assert (first.section, first.line) == ("Verse 1", 1)
    assert len(first.options) == 3  # 2 candidates and the re-ended line
    assert first.options[first.kept].text == "line 0 of fine"  # "fine": the shortest word
    assert first.options[first.kept].features["rhyme"] == 1.0
    assert _sections(result.text)[0][1] == ["First line", "line 0 of fine"]
    scoring = next(r.body for r in asked if r.body.get("echo"))
    assert [p.rsplit("\n", 2)[-2] for p in scoring["prompt"]] == [
        "line 0 of song 1", "line 0 of sunshine", "line 0 of fine", "line 0 of mine"]
    assert word_logprob(" fine") > word_logprob(" sunshine")


def test_a_re_ending_far_less_likely_than_the_line_itself_is_not_kept(tiny_albums):
    fake = FakeInference().start()
    try:
        # The one rhyme of "line" the artist has is a long word: 3 nats less likely than the
        # line's own ending ("song 1") in the fake, past REEND_COST. A swapped word so unlikely
        # reads broken ("every time I wake wife"): the line stays as the model wrote it.
        book = RhymeBook({"AABB": 1.0}, {"crystalline": 5})
        result = run(write(remote(fake, tiny_albums, book),
                           Request("First line", form="song"), candidates=2))
        asked = fake.completions()
    finally:
        fake.close()
    cost = word_logprob(" song") + word_logprob(" 1") - word_logprob(" crystalline")
    assert cost > REEND_COST
    first = result.steps[0]
    assert len(first.options) == 2  # the 2 candidates; the re-ending was not kept
    assert first.options[first.kept].text.endswith(" song 1")
    assert _sections(result.text)[0][1][1].endswith(" song 1")
    assert any(r.body.get("echo") for r in asked)  # it was scored, and refused


def test_a_crowd_of_songs_gets_fewer_candidates_a_line_and_the_count_comes_back(tiny_albums):
    fake = FakeInference().start()

    async def main():
        # Four rows a batch: one song alone asks 3 candidates a line, four songs at once 1 each.
        worker = Worker(remote(fake, tiny_albums, RhymeBook({"none": 1.0}, {})),
                        batch_window_ms=1, max_batch=4)
        worker.start()
        await worker.ready()
        try:
            composer = Composer(worker, candidates=3)
            await composer.write(Request("First line", form="song"))
            alone = [r.body["n"] for r in fake.completions()]
            crowd = [composer.start(Request(f"Line {i}", form="song")) for i in range(4)]
            assert composer.songs == 4
            await asyncio.gather(*crowd)
            return alone, [r.body["n"] for r in fake.completions()][len(alone):], composer.songs
        finally:
            await worker.close()

    try:
        alone, crowded, left = run(main())
    finally:
        fake.close()
    assert set(alone) == {3} and len(alone) == 5
    # Each song's first line is asked as it starts (1, 2, 3, then 4 songs in flight); every
    # later line while the four are written shares the batch: one candidate each.
    assert sorted(crowded[:4]) == [1, 1, 2, 3] and len(crowded) == 4 * 5
    assert set(crowded[4:]) == {1}
    assert left == 0  # every song done: a later song asks its full count again

