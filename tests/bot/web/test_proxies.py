"""FORWARDED_ALLOW_IPS: behind a trusted proxy each visitor is their own address; otherwise the
headers are ignored. Real HTTP on loopback: the test client's address is the proxy's."""

from __future__ import annotations

import pytest

from swiftai.settings import ConfigError, Settings
from tests.bot.conftest import call
from tests.bot.web.test_votes import OTHER, VISITOR, short  # noqa: F401 (a fixture)
from tests.bot.web.test_votes import vote as cast


@pytest.fixture
def serve(serve_web, short):  # noqa: F811
    """Serve the page on the short-song model with a 60 s vote limit per client address."""
    return lambda allowed: serve_web(BASE_MODEL=str(short), VOTE_COOLDOWN_SECONDS="60",
                                     FORWARDED_ALLOW_IPS=allowed)


async def song_from(base: str, headers: dict[str, str]) -> int:
    status, data, _ = await call("POST", f"{base}/api/lyrics", headers=headers,
                                 json={"prompt": "Porch light", "lines": 2})
    assert status == 200, data
    return data["songs"][0]["id"]


def via(*addresses: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(addresses)}


async def test_behind_a_trusted_proxy_each_client_is_logged_and_limited_alone(serve):
    base, app = await serve("127.0.0.1, 10.0.0.0/8")
    # A client's own lie comes first; the proxies append what they saw: the right-most
    # address that is not a trusted proxy is the client.
    song = await song_from(base, via("6.6.6.6", "198.51.100.7", "10.1.2.3"))
    assert (await app.store.generation(song)).user_id == "web:198.51.100.7"
    up = {"vote": "up", "visitor": VISITOR}
    assert (await cast(base, song, up, headers=via("198.51.100.7")))[0] == 200
    assert (await cast(base, song, {**up, "visitor": OTHER},
                       headers=via("198.51.100.8")))[0] == 200  # another client: its own limit
    assert (await cast(base, song, up, headers=via("198.51.100.7")))[0] == 429


async def test_the_forwarded_header_counts_too_from_a_trusted_proxy(serve):
    base, app = await serve("127.0.0.1")
    forwarded = 'for=198.51.100.9;proto=https, for="[2001:db8::1]"'  # the last hop: the client
    song = await song_from(base, {"Forwarded": forwarded})
    assert (await app.store.generation(song)).user_id == "web:2001:db8::1"


async def test_from_an_untrusted_peer_the_headers_are_ignored(serve):
    base, app = await serve("10.0.0.1")
    song = await song_from(base, via("198.51.100.7"))
    assert (await app.store.generation(song)).user_id == "web:127.0.0.1"
    up = {"vote": "up", "visitor": VISITOR}
    assert (await cast(base, song, up, headers=via("198.51.100.7")))[0] == 200
    status, _, _ = await cast(base, song, {**up, "visitor": OTHER}, headers=via("198.51.100.8"))
    assert status == 429  # one address, one limit: a made-up header changes nothing


def test_a_proxy_list_that_is_not_addresses_is_refused_at_start():
    with pytest.raises(ConfigError, match=r"FORWARDED_ALLOW_IPS.*'proxy\.local'"):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "127.0.0.1, proxy.local"})
    assert Settings.from_env({}).forwarded_allow_ips == ()  # empty by default: none trusted
