"""A fake Genius on 127.0.0.1 that the real lyricsgenius client talks to.

It serves the three roots lyricsgenius uses under one base URL (see
`training.data.genius.make_client`): `/api/...` (api.genius.com), `/public/...` (genius.com/api) and
`/<slug>-lyrics` pages. Lyric pages carry the junk real Genius pages carry. Faults are queued per
path: each request to that path takes the next fault until none are left, then gets the normal
answer. A fault can also make Genius go away: it stops listening, and every later connection is
refused.
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (past the client's timeout = a timeout)
    stop: bool = False  # stop listening before sending this answer: Genius goes away mid-run


@dataclass
class FakeSong:
    id: int
    title: str
    lyrics: str
    album: str | None = None
    release_date: str | None = None
    primary_artist_id: int = 1
    lyrics_state: str = "complete"
    instrumental: bool = False

    @classmethod
    def from_export(cls, song: dict[str, Any]) -> FakeSong:
        """Serve a song of a lyricsgenius export (the fixture artist's)."""
        return cls(id=song["id"], title=song["title"], lyrics=song["lyrics"],
                   album=(song.get("album") or {}).get("name"),
                   release_date=song.get("release_date"))

    @property
    def path(self) -> str:
        return "fake-" + str(self.id) + "-lyrics"

    @property
    def url(self) -> str:
        return "https://genius.com/" + self.path

    def api_body(self, artist_name: str) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "url": self.url, "path": "/" + self.path,
            "lyrics_state": self.lyrics_state, "instrumental": self.instrumental,
            "primary_artist": {"id": self.primary_artist_id, "name": artist_name},
            "release_date": self.release_date,
            "album": {"id": 1, "name": self.album} if self.album else None,
        }


def lyrics_page(song: FakeSong) -> str:
    """Render a song page the way genius.com does: lyrics split over containers, junk included."""
    lines = song.lyrics.split("\n")
    half = len(lines) // 2
    blocks = [lines[:half], lines[half:]]
    header = (f'<div class="LyricsHeader__Container">{len(lines)} Contributors'
              f"Translations{html.escape(song.title)} Lyrics</div>")
    containers = "".join(
        '<div data-lyrics-container="true">'
        + "<br/>".join(html.escape(line) for line in block)
        + ("You might also like" if i == 0 else "")
        + "</div>"
        for i, block in enumerate(blocks)
    )
    return f"<html><body><h1>{html.escape(song.title)}</h1>{header}{containers}</body></html>"


class FakeGenius:
    """Serve one artist's songs; record every request path; inject faults."""

    def __init__(self, artist_name: str, songs: list[FakeSong], artist_id: int = 1,
                 per_page_cap: int = 5) -> None:
        self.artist_name = artist_name
        self.artist_id = artist_id
        self.songs = {s.id: s for s in songs}
        self.per_page_cap = per_page_cap  # small pages so tests exercise pagination
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[str] = []
        self.arrivals: list[tuple[str, float]] = []  # path, time.monotonic() when it came in
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval: stop() waits for the serving loop to notice, on every test.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._stopped = False

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGenius:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop listening: connections from now on are refused. Requests in flight finish."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()

    def fail(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests to `path` (no query string)."""
        with self._lock:
            self.faults.setdefault(path, []).extend(faults)

    def count(self, path: str) -> int:
        """Return how many requests asked for `path`."""
        with self._lock:
            return self.requests.count(path)

    def times(self, path: str) -> list[float]:
        """Return when each request for `path` arrived (time.monotonic())."""
        with self._lock:
            return [at for asked, at in self.arrivals if asked == path]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.requests.append(path)
            self.arrivals.append((path, time.monotonic()))
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def artist_body(self) -> dict[str, Any]:
        return {"id": self.artist_id, "name": self.artist_name,
                "api_path": f"/artists/{self.artist_id}",
                "url": "https://genius.com/artists/fake", "header_image_url": "", "image_url": "",
                "is_meme_verified": False, "is_verified": True}

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, str]:
        """Return status, content type and body for a normal request."""
        if path == "/public/search/multi":
            hit = {"highlights": [], "index": "artist", "type": "artist",
                   "result": self.artist_body()}
            asked = query.get("q", [""])[0].casefold()
            hits = [hit] if asked == self.artist_name.casefold() else []
            sections = [{"type": "top_hit", "hits": hits}, {"type": "artist", "hits": hits}]
            return 200, "application/json", json.dumps({"response": {"sections": sections}})
        if path == f"/api/artists/{self.artist_id}":
            body = {"artist": self.artist_body()}
            return 200, "application/json", json.dumps({"response": body})
        if path == f"/api/artists/{self.artist_id}/songs":
            per_page = min(int(query.get("per_page", ["20"])[0]), self.per_page_cap)
            page = int(query.get("page", ["1"])[0])
            ordered = list(self.songs.values())
            chunk = ordered[(page - 1) * per_page: page * per_page]
            next_page = page + 1 if page * per_page < len(ordered) else None
            body = {"songs": [s.api_body(self.artist_name) for s in chunk], "next_page": next_page}
            return 200, "application/json", json.dumps({"response": body})
        if path.startswith("/api/songs/"):
            song = self.songs.get(int(path.rsplit("/", 1)[1]))
            if song:
                body = {"song": song.api_body(self.artist_name)}
                return 200, "application/json", json.dumps({"response": body})
        for song in self.songs.values():
            if path == "/" + song.path:
                return 200, "text/html", lyrics_page(song)
        return 404, "application/json", json.dumps({"meta": {"status": 404}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fault = fake._take_fault(parts.path)
                if fault is not None and fault.stop:
                    fake.stop()  # before answering, so the client's next connection is refused
                if fault is not None:
                    time.sleep(fault.delay)
                    status, ctype, body = fault.status, "text/html", fault.body
                    if fault.status == 200 and not fault.body:
                        status, ctype, body = fake.answer(parts.path, parse_qs(parts.query))
                    headers = fault.headers
                else:
                    status, ctype, body = fake.answer(parts.path, parse_qs(parts.query))
                    headers = {}
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, *args: object) -> None:
                pass

        return Handler
