"""👍/👎 from the web page: POST /api/songs/<id>/vote on a real loopback server."""

from __future__ import annotations

import pytest

from bot.storage.store import Votes
from tests.bot.conftest import call
from tests.bot.short_model import short_model

VISITOR = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


@pytest.fixture(scope="module")
def short(tiny_base, tmp_path_factory):
    return short_model(tiny_base, tmp_path_factory.mktemp("short") / "model")


@pytest.fixture
def serve(serve_web, short):
    """Serve the web page on the short-song model; no vote cooldown unless asked."""
    return lambda **env: serve_web(**{"BASE_MODEL": str(short), "VOTE_COOLDOWN_SECONDS": "0",
                                      **env})


async def write_song(base: str) -> int:
    status, data, _ = await call("POST", f"{base}/api/lyrics",
                                 json={"prompt": "Porch light", "lines": 2})
    assert status == 200
    return data["songs"][0]["id"]


async def vote(base: str, song: object, body: object, **kwargs):
    return await call("POST", f"{base}/api/songs/{song}/vote", json=body, **kwargs)


async def test_a_visitor_has_one_vote_per_song_and_can_change_it(serve):
    base, app = await serve()
    song = await write_song(base)
    status, data, _ = await vote(base, song, {"vote": "up", "visitor": VISITOR})
    assert (status, data) == (200, {"id": song, "vote": "up", "votes_up": 1, "votes_down": 0})
    status, data, _ = await vote(base, song, {"vote": "up", "visitor": VISITOR})
    assert (data["votes_up"], data["votes_down"]) == (1, 0)  # the same vote again counts once
    status, data, _ = await vote(base, song, {"vote": "down", "visitor": VISITOR})
    assert (data["votes_up"], data["votes_down"]) == (0, 1)  # changed, not added
    status, data, _ = await vote(base, song, {"vote": "up", "visitor": OTHER})
    assert (data["votes_up"], data["votes_down"]) == (1, 1)
    _, recent, _ = await call("GET", f"{base}/api/recent")
    assert (recent["songs"][0]["votes_up"], recent["songs"][0]["votes_down"]) == (1, 1)
    async with app.store.db.execute("SELECT user_id, value FROM votes ORDER BY user_id") as c:
        assert [tuple(r) for r in await c.fetchall()] == [(f"visitor:{VISITOR}", -1),
                                                          (f"visitor:{OTHER}", 1)]


async def test_web_and_discord_votes_on_one_song_count_together(serve):
    base, app = await serve()
    song = await write_song(base)
    await app.store.vote(song, "123456789", 1)  # what the Discord 👍 button stores
    status, data, _ = await vote(base, song, {"vote": "up", "visitor": VISITOR})
    assert status == 200 and data["votes_up"] == 2


BAD_VOTES = [
    ({"vote": "sideways", "visitor": VISITOR}, 'vote must be "up" or "down"'),
    ({"vote": 1, "visitor": VISITOR}, 'vote must be "up" or "down"'),
    ({"visitor": VISITOR}, 'vote must be "up" or "down"'),
    ({"vote": "up"}, "visitor must be 16 to 64 letters"),
    ({"vote": "up", "visitor": "short"}, "visitor must be 16 to 64 letters"),
    ({"vote": "up", "visitor": "x" * 65}, "visitor must be 16 to 64 letters"),
    ({"vote": "up", "visitor": "a" * 20 + " or 1=1"}, "visitor must be 16 to 64 letters"),
    ({"vote": "up", "visitor": ["a" * 20]}, "visitor must be 16 to 64 letters"),
    (["up"], "the body must be a JSON object"),
]


async def test_a_bad_vote_is_a_400_that_says_what_is_wrong(serve):
    base, app = await serve()
    song = await write_song(base)
    for body, message in BAD_VOTES:
        status, data, _ = await vote(base, song, body)
        assert status == 400 and data["error"].startswith(message), body
    status, data, _ = await call("POST", f"{base}/api/songs/{song}/vote", data="{not json",
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and data["error"] == "the body must be JSON"
    assert await app.store.votes(song) == Votes(0, 0)


async def test_a_vote_on_a_song_that_does_not_exist_is_a_404(serve):
    base, _ = await serve()
    await write_song(base)
    for song in ("999", "abc", "1" * 40, "-1", "1.0"):
        status, data, _ = await vote(base, song, {"vote": "up", "visitor": VISITOR})
        assert status == 404 and data["error"] == f"no song with id {song[:40]}", song


async def test_a_request_that_wrote_no_song_cannot_be_voted_on(serve):
    base, app = await serve()
    status, _, _ = await call("POST", f"{base}/api/lyrics", json={"prompt": "   "})
    assert status == 400
    async with app.store.db.execute("SELECT id FROM generations WHERE status = 'rejected'") as c:
        (refused,) = await c.fetchone()
    status, data, _ = await vote(base, refused, {"vote": "up", "visitor": VISITOR})
    assert status == 404 and data["error"] == f"no song with id {refused}"
    assert await app.store.votes(refused) == Votes(0, 0)


async def test_a_vote_that_is_not_json_is_a_415(serve):
    base, app = await serve()
    song = await write_song(base)
    status, data, _ = await call("POST", f"{base}/api/songs/{song}/vote",
                                 data={"vote": "up", "visitor": VISITOR})  # a form post
    assert status == 415 and "application/json" in data["error"]
    assert await app.store.votes(song) == Votes(0, 0)


async def test_votes_from_one_client_are_rate_limited_and_a_refused_one_costs_nothing(
        serve):
    base, app = await serve(VOTE_COOLDOWN_SECONDS="60")
    song = await write_song(base)
    status, _, _ = await vote(base, song, {"vote": "sideways", "visitor": VISITOR})
    assert status == 400  # bad input does not start the cooldown
    assert (await vote(base, song, {"vote": "up", "visitor": VISITOR}))[0] == 200
    status, data, headers = await vote(base, song, {"vote": "down", "visitor": OTHER})
    assert status == 429 and "too fast" in data["error"] and 0 < int(headers["Retry-After"]) <= 60
    assert await app.store.votes(song) == Votes(1, 0)  # a new visitor id is no way around it


async def test_a_vote_the_log_cannot_store_is_a_503_and_can_be_sent_again(serve):
    base, app = await serve(VOTE_COOLDOWN_SECONDS="60")
    song = await write_song(base)
    # A real SQLite failure on the vote's write only (as a full disk could make it).
    await app.store.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON votes "
                               "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    await app.store.db.commit()
    status, _, headers = await vote(base, song, {"vote": "up", "visitor": VISITOR})
    assert status == 503 and int(headers["Retry-After"]) > 0
    await app.store.db.execute("DROP TRIGGER refuse")
    await app.store.db.commit()
    assert (await vote(base, song, {"vote": "up", "visitor": VISITOR}))[0] == 200
