"""Simulated listeners of known taste teach the ranking, end to end through the real web API.

A tiny real model, published as a run, writes two-line verses through POST /api/lyrics: the
listener's first line and one written line, six candidates ranked by the default weights, every
one logged. Listeners vote on each song
that was shown by one stated rule; `python -m training feedback --fit` gets the votes through
`python -m bot feedback` (beside the running bot) and fits the run's ranking weights; the bot
reloads the run, and the songs it writes next follow the rule far more often.

The rule: 👍 when the written line is off the artist's usual width by at least WIDE (the `width`
feature of model/writing/ranking.py), else 👎. The default ranking
prefers lines of the usual width (its width weight is negative), so before feedback few songs
pass; the random tiny model's other features hardly vary (no rhymes, no drift, no copies), so
width is the taste there is to learn.
"""

from __future__ import annotations

import asyncio
import json
import statistics

import aiohttp
import pytest

from model.lyrics.style import GENERIC, lyric_lines
from model.writing.novelty import words_of
from model.writing.ranking import width
from tests.bot.conftest import publish_tiny_run
from tests.conftest import DEFAULT_ARTIST, run_cli

ARTIST = DEFAULT_ARTIST  # the artist the test bot serves and logs songs as
WIDE = 0.4  # the rule's threshold on `width`: three words off the usual 7.5 a line
SONGS = 120  # songs written before feedback (FEEDBACK_MIN_VOTES is 100), and again after
MARGIN = 0.3  # the share of songs the listeners like must rise by at least this much
LISTENER = "0123456789abcdef" * 2  # the visitor id the page would keep


def liked(text: str) -> bool:
    """The listeners' taste, from the shown song alone: the lines written after theirs."""
    return statistics.fmean(width(len(words_of(line)), GENERIC)
                            for line in lyric_lines(text)[1:]) >= WIDE


async def write_songs(session: aiohttp.ClientSession, base: str, count: int,
                      start: int) -> list[dict]:
    async def one(i: int) -> dict:
        async with session.post(f"{base}/api/lyrics",
                                json={"prompt": f"Porch light number {start + i} burning for you",
                                      "lines": 2}) as response:
            data = await response.json()
            assert response.status == 200, data
            return data["songs"][0]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.mark.skip(reason="the base model's line habits refuse most lines the tiny random model "
                  "writes, leaving too few candidates to rank: needs a fixture run whose "
                  "learned habits let them through")
async def test_listeners_votes_teach_the_ranking_their_taste(serve_web, tiny_base, tmp_path):
    home = tmp_path / "home"
    run = publish_tiny_run(home, tiny_base)
    base, app = await serve_web(CANDIDATES="6", MAX_BATCH="48", QUEUE_SIZE="256",
                                VOTE_COOLDOWN_SECONDS="0")
    async with aiohttp.ClientSession() as session:
        before = await write_songs(session, base, SONGS, 0)
        for song in before:
            async with session.post(f"{base}/api/songs/{song['id']}/vote", json={
                    "vote": "up" if liked(song["text"]) else "down",
                    "visitor": LISTENER}) as response:
                assert response.status == 200
        share_before = sum(liked(s["text"]) for s in before) / SONGS
        assert 0 < share_before < 0.5  # both kinds of vote, and room to learn

        done = run_cli("training", "feedback", "--artist", ARTIST, "--fit",
                       env={"SWIFTAI_HOME": str(home), "FEEDBACK_MIN_VOTES": "100"})
        assert done.returncode == 0, done.stderr[-2000:]
        fitted = json.loads((run / "ranking.json").read_text(encoding="utf-8"))
        assert fitted["votes"] == SONGS and fitted["weights"]["width"] > 0  # the taste, learned
        await app.reload()  # as /reload does: the run is served again, with its ranking.json

        after = await write_songs(session, base, SONGS, SONGS)
    share_after = sum(liked(s["text"]) for s in after) / SONGS
    assert share_after >= share_before + MARGIN, (share_before, share_after)
