"""Download an artist's songs from Genius into the song cache, resumably and with retries.

lyricsgenius (3.15) does not retry HTTP 429, 403 or 5xx, and when a lyrics page fails it keeps the
song with empty lyrics. So we drive its building blocks ourselves: list the artist once
(`listing.json`), then fetch each song that is not cached yet. Its requests session retries with
`Backoff` (waits of b, 2b, 4b... plus jitter, or `Retry-After`, each capped) and tells a `Contact`
what Genius answered and when. A song is written only once its lyrics are really there; every
other song is reported by title with what happened. When Genius stops answering altogether, the
fetch raises `GeniusUnreachable` instead of trying every remaining song.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import requests
from lyricsgenius import Genius
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from training.data.cleaning import non_song_title
from training.data.song_cache import Song, SongCache
from training.errors import TrainingError

log = logging.getLogger(__name__)

RETRY_STATUSES = (403, 429, 500, 502, 503, 504)  # 403: Cloudflare's answer to busy cloud IPs


@dataclass(frozen=True)
class FetchOptions:
    retries: int = 5  # tries after the first, per request
    backoff: float = 1.0  # seconds before the first retry, doubling after; plus 0 to backoff jitter
    max_wait: float = 300.0  # cap on one wait, Retry-After included
    timeout: float = 15.0  # seconds per request
    sleep_time: float = 0.2  # pause after each request: be polite to Genius
    refresh: bool = False  # list the artist's songs again instead of using listing.json
    # When to decide Genius is down and stop, keeping what is stored (a rerun resumes):
    give_up_songs: int = 3  # songs in a row lost to refused connections or timeouts
    give_up_after: float = 60.0  # seconds without any answer; no retry is begun past this


@dataclass
class FetchReport:
    artist: str
    new: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # title, reason
    failed: list[tuple[str, str]] = field(default_factory=list)  # title, reason

    def summary(self) -> str:
        """Return the one-line count of what happened."""
        return (f"{self.artist}: {len(self.new)} new, {len(self.cached)} cached, "
                f"{len(self.failed)} failed, {len(self.skipped)} skipped as non-songs")


class Contact:
    """What Genius last answered and when; the session's response hook keeps it current.

    Single-threaded, like lyricsgenius' client: one Contact per client, one client per thread.
    """

    def __init__(self, patience: float) -> None:
        self.patience = patience  # seconds without an answer after which Genius counts as gone
        self.status: int | None = None  # of the last response (after retries: the one kept)
        self.heard_at = time.monotonic()

    def heard(self, status: int) -> None:
        """Record an answer from Genius (any status: an error page is still an answer)."""
        self.status = status
        self.heard_at = time.monotonic()

    def silence(self) -> float:
        """Return the seconds since Genius last answered."""
        return time.monotonic() - self.heard_at

    def gone(self, wait: float = 0.0) -> bool:
        """Say whether Genius will have been silent past our patience after `wait` more seconds."""
        return self.silence() + wait > self.patience


class Backoff(Retry):
    """urllib3's Retry, waiting `backoff_factor` seconds before the first retry too.

    urllib3 2.x waits 0 before the first retry and then 2b, 4b...; a struggling server needs the
    first pause most. Our waits are b, 2b, 4b... plus up to `backoff_jitter`, capped at
    `backoff_max`; a `Retry-After` header replaces them (capped at `retry_after_max`).
    With a `contact`, a request that got no answer is not retried when the wait would carry the
    silence past the contact's patience: a dead Genius costs one more try per request, not minutes.
    """

    contact: Contact | None = None  # set by make_client; new() hands it to each copy
    _wait: float | None = None  # drawn once, so the wait checked is the wait slept

    def new(self, **kw: Any) -> Self:
        """Copy this policy with changes (urllib3 makes one per retry), keeping the contact."""
        retry = super().new(**kw)
        retry.contact = self.contact
        return retry

    def get_backoff_time(self) -> float:
        """Return the wait before the next retry: backoff x 2^(n-1) plus jitter, capped."""
        if not self.history:  # no error yet
            return 0.0
        if self._wait is None:
            # requests turns urllib3's redirects off, so every entry in the history is an error.
            wait = self.backoff_factor * 2 ** (len(self.history) - 1)
            wait += random.random() * self.backoff_jitter
            self._wait = max(0.0, min(self.backoff_max, wait))
        return self._wait

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next retry; a wait that an answer called for is not silence."""
        super().sleep(response)
        if response is not None and self.contact:  # e.g. Retry-After: 120 is Genius talking
            self.contact.heard(response.status)

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None,
                  _stacktrace: TracebackType | None = None) -> Self:
        """Count a failed try; give up at once on a silent Genius past our patience."""
        if response is not None and self.contact:
            self.contact.heard(response.status)  # a 500 or 429 is an answer: Genius is there
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        unanswered = response is None and error is not None
        if unanswered and self.contact and self.contact.gone(retry.get_backoff_time()):
            raise MaxRetryError(_pool, url, error) from error  # as if the retries ran out
        return retry


@dataclass(frozen=True)
class Client:
    """lyricsgenius' client, its requests retried with `Backoff`, and what Genius last answered."""

    genius: Genius
    contact: Contact


def make_client(token: str, options: FetchOptions, base_url: str | None = None) -> Client:
    """Build a lyricsgenius client whose requests are retried with backoff."""
    genius = Genius(token, timeout=options.timeout, sleep_time=options.sleep_time, retries=0,
                    skip_non_songs=False, remove_section_headers=False)
    if base_url:  # a mirror, or our fake Genius in tests; song URLs stay genius.com ones
        genius.API_ROOT = f"{base_url}/api/"
        genius.PUBLIC_API_ROOT = f"{base_url}/public/"
        genius.WEB_ROOT = f"{base_url}/"
    contact = Contact(patience=options.give_up_after)
    retry = Backoff(total=options.retries, connect=options.retries, read=options.retries,
                    status=options.retries, other=0, status_forcelist=RETRY_STATUSES,
                    allowed_methods=None, backoff_factor=options.backoff,
                    backoff_jitter=options.backoff, backoff_max=options.max_wait,
                    retry_after_max=options.max_wait,  # a float: int() makes a 0.5 s cap 0
                    respect_retry_after_header=True)
    retry.contact = contact
    # lyricsgenius exposes no hook for this; its session is the one place every request goes.
    session: requests.Session = genius._session
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # lyricsgenius scrapes whatever page it gets, a 404 page included: keep the status to check.
    session.hooks["response"].append(lambda response, **_: contact.heard(response.status_code))
    return Client(genius, contact)


def list_artist(genius: Genius, name: str) -> dict[str, Any]:
    """Find the artist on Genius and list all their songs (metadata only)."""
    try:
        artist = genius.search_artist(name, max_songs=0, get_full_info=False)
    except Exception as e:
        raise TrainingError(f"could not look up {name!r} on Genius: {describe_failure(e)}") from e
    if artist is None:
        raise TrainingError(f"no artist called {name!r} on Genius")
    artist_id = artist.to_dict()["id"]  # lyricsgenius' Artist keeps its id only in the body
    songs: list[dict[str, Any]] = []
    page: int | None = 1
    while page:
        try:
            result = genius.artist_songs(artist_id, per_page=50, page=page, sort="popularity")
        except Exception as e:
            raise TrainingError(f"could not list {artist.name}'s songs (page {page}): "
                                f"{describe_failure(e)}") from e
        for info in result["songs"]:
            songs.append({
                "id": info["id"], "title": info["title"], "url": info["url"],
                "lyrics_state": info.get("lyrics_state"), "instrumental": info.get("instrumental"),
                "primary_artist_id": (info.get("primary_artist") or {}).get("id"),
            })
        page = result.get("next_page")
    return {"artist": artist.name, "genius_id": artist_id, "songs": songs,
            "listed": datetime.now(UTC).isoformat(timespec="seconds")}


def skip_reason(entry: dict[str, Any], artist_id: int) -> str | None:
    """Say why a listed song is not worth downloading, or None."""
    if entry.get("primary_artist_id") not in (None, artist_id):
        return "a feature on another artist's song"
    if entry.get("instrumental"):
        return "instrumental"
    if entry.get("lyrics_state") not in (None, "complete"):
        return f"lyrics are {entry['lyrics_state']} on Genius"
    return non_song_title(entry["title"])


class GeniusUnreachable(TrainingError):
    """Genius stopped answering mid-fetch; the songs stored so far are kept."""


# What a song fails with when Genius gave no answer at all: these trip the give-up.
NO_ANSWER = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


class EmptyLyrics(Exception):
    """A lyrics page loaded but held no lyrics."""


class PageError(Exception):
    """A lyrics page answered with an error status that is not worth retrying (404, 410...)."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"the lyrics page answered HTTP {status}")
        self.status = status


def fetch_song(client: Client, entry: dict[str, Any], artist: str) -> Song:
    """Download one song's lyrics and details; raise if its lyrics are not really there."""
    lyrics = client.genius.lyrics(song_url=entry["url"])
    if client.contact.status != HTTPStatus.OK:
        raise PageError(client.contact.status)
    if not lyrics or not lyrics.strip():
        raise EmptyLyrics("the page has no lyrics on it")
    info = client.genius.song(entry["id"])["song"]
    album = (info.get("album") or {}).get("name")
    return Song(id=f"genius-{entry['id']}", title=info.get("title") or entry["title"],
                artist=artist, lyrics=lyrics, album=album,
                release_date=info.get("release_date"), url=entry["url"], source="genius")


def fetch_artist(client: Client, cache: SongCache, name: str, options: FetchOptions,
                 progress: bool = True) -> FetchReport:
    """Bring the cache up to date with the artist's songs on Genius."""
    listing = None if options.refresh else cache.read_listing()
    if listing is None:
        listing = list_artist(client.genius, name)
        cache.write_listing(listing)
    report = FetchReport(artist=listing["artist"])
    lost = 0  # songs in a row that Genius gave no answer for
    for entry in tqdm(listing["songs"], desc="songs", unit="song", disable=not progress):
        title = entry["title"]
        reason = skip_reason(entry, listing["genius_id"])
        if reason:
            report.skipped.append((title, reason))
            continue
        if cache.has(f"genius-{entry['id']}"):
            report.cached.append(title)
            continue
        try:
            song = fetch_song(client, entry, listing["artist"])
        except (requests.RequestException, EmptyLyrics, PageError, AssertionError,
                ValueError) as e:
            reason = describe_failure(e)
            log.warning("song %s failed: %s", entry["id"], reason)
            report.failed.append((title, reason))
            lost = lost + 1 if isinstance(e, NO_ANSWER) else 0  # a 404 is an answer
            if lost >= options.give_up_songs:
                why = f"{reason}, {lost} songs in a row"
            elif lost and client.contact.gone():
                why = f"{reason}, no answer for {client.contact.silence():.0f} s"
            else:
                continue
            raise GeniusUnreachable(unreachable(why, cache, listing)) from e
        lost = 0
        cache.put(song)
        report.new.append(title)
    return report


def unreachable(why: str, cache: SongCache, listing: dict[str, Any]) -> str:
    """Say in one line that Genius is gone, how much is stored, and how to go on."""
    wanted = [e for e in listing["songs"] if not skip_reason(e, listing["genius_id"])]
    stored = sum(cache.has(f"genius-{e['id']}") for e in wanted)
    return (f"Genius is unreachable ({why}); {stored} of {len(wanted)} songs stored, "
            "run fetch again to resume")


def describe_failure(error: BaseException) -> str:
    """Turn what requests/lyricsgenius raised into a short reason for a person."""
    text = str(error)
    if isinstance(error, EmptyLyrics):
        return text
    if isinstance(error, PageError):
        return http_reason(error.status)
    if isinstance(error, requests.exceptions.RetryError):
        match = re.search(r"too many (\d+) error responses", text)
        return f"HTTP {match.group(1)} on every try" if match else "gave up after retries"
    if isinstance(error, requests.exceptions.Timeout) or "timed out" in text.lower():
        return "timed out on every try"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection refused" if "refused" in text.lower() else "could not connect to Genius"
    if isinstance(error, json.JSONDecodeError):
        return "Genius answered with a page that is not JSON"
    match = re.search(r"Unexpected response status code: (\d+)", text)  # lyricsgenius' API calls
    if match:
        return http_reason(int(match.group(1)))
    return f"{type(error).__name__}: {text[:200]}"


def http_reason(status: int | None) -> str:
    """Name an HTTP error status the way a person reads it: `HTTP 404: page not found`."""
    if status == HTTPStatus.NOT_FOUND:
        return "HTTP 404: page not found"
    try:
        return f"HTTP {status}: {HTTPStatus(status).phrase.lower()}"
    except ValueError:
        return f"HTTP {status}"
