"""The HTTP API beside the page (page.py), served from the bot's own event loop, worker and
store.

Routes: GET / (the page), POST /api/lyrics, GET /api/songwrite (the seed's API), GET /api/recent,
GET /api/status, GET /healthz, GET /favicon.ico, POST /api/songs/<id>/vote. Errors are JSON
`{"error": "..."}` with 400 (bad input), 404, 405 (with Allow), 413, 415 (a POST body that is
not application/json), 429 (rate limit) and 503 (busy, loading, shutting down, the log failing),
both with Retry-After, or 500 (with an id in the log); `answer_error` is the one place that
maps an error to its status. Every response carries the page's security headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.app import App
from bot.errors import OnCooldown, UserError
from bot.service.asks import RECENT, Who, whole_number
from bot.service.cooldowns import Cooldowns
from bot.service.requests import Written
from bot.storage.store import StoreUnavailable
from bot.web.page import get_icon, get_page, secure
from bot.web.proxies import TrustedProxies
from model.errors import BadRequest, Busy, DeadlineExceeded, GenerationError, Offline, Stopped
from model.writing.events import Event, LineEvent

log = logging.getLogger(__name__)
APP_KEY = web.AppKey("swiftai", App)
VOTE_COOLDOWNS = web.AppKey("vote_cooldowns", Cooldowns)  # per client address, like requests
VOTES = {"up": 1, "down": -1}
VISITOR = re.compile(r"[A-Za-z0-9_-]{16,64}")  # the page's random id (32 hex digits)
SONG_ID = re.compile(r"[0-9]{1,18}")  # larger ids would not fit SQLite's integers
MAX_BODY = 16 * 1024  # bytes: a prompt is at most a few hundred characters, even \u-escaped
MAX_URL = 32 * 1024  # bytes: longer request lines never reach us (aiohttp answers 400 itself)
RETRY_AFTER = {Busy: 5, DeadlineExceeded: 5, Stopped: 60, Offline: 60}  # seconds; else 30
NDJSON = "application/x-ndjson"  # a streamed answer: one JSON object a line


class BadBody(UserError):
    """A request body that is not a JSON object; `status` is 415 when it is not even sent as
    JSON."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200, **headers: str) -> web.Response:
    if status == 503:
        headers.setdefault("Retry-After", "30")  # every 503 says when to come back
    return web.json_response(data, status=status, headers=headers or None)


def _error(message: str, status: int, **headers: str) -> web.Response:
    return _json({"error": message}, status, **headers)


def answer_error(error: BaseException) -> web.Response | None:
    """Return the JSON answer to an error that a request or the load can cause (400, 415, 429,
    503 with Retry-After); None for anything else, which is a bug."""
    if isinstance(error, BadBody):
        return _error(str(error), error.status)
    if isinstance(error, OnCooldown):
        return _error(str(error), 429, **{"Retry-After": str(math.ceil(error.retry_after))})
    if isinstance(error, UserError | BadRequest):
        return _error(str(error), 400)
    if isinstance(error, GenerationError | StoreUnavailable):  # busy, loading, shutting down
        seconds = next((s for kind, s in RETRY_AFTER.items() if isinstance(error, kind)), 30)
        return _error(str(error), 503, **{"Retry-After": str(seconds)})
    return None


async def json_object(request: web.Request) -> dict[str, Any]:
    """Return the request's body, a JSON object; raise BadBody for anything else.

    Only JSON: a form or text/plain POST is a "simple" request any web page can make a visitor's
    browser send (spending our GPU, or voting); application/json needs our consent (CORS).
    """
    if request.content_type != "application/json":
        raise BadBody("send the body as JSON, with Content-Type: application/json", 415)
    try:
        body = await request.json()
    except ValueError:
        raise BadBody("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    return body


def _song(written: Written) -> dict[str, Any]:
    return {"id": written.generation_id, "text": written.result.text,
            "artist": written.ask.artist, "model": written.result.model_id,
            "copied_words": written.result.copied_words}


async def _write(request: web.Request, fields: Mapping[str, Any],
                 names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Shared by both lyric endpoints: write the songs."""
    app = request.app[APP_KEY]
    async with app.requests.serving():
        songs = await app.requests.write(Who("web", f"web:{request.remote}"), fields, names)
    return {"prompt": songs[0].ask.prompt, "songs": [_song(s) for s in songs]}


def event_line(event: Event) -> dict[str, Any]:
    """Return one streamed event as its NDJSON object."""
    if isinstance(event, LineEvent):
        return {"event": "line", "slot": event.slot, "section": event.section,
                "text": event.text}
    return {"event": "section", "slot": event.slot, "label": event.label,
            "lines": list(event.lines)}


async def _stream(request: web.Request, body: Mapping[str, Any]) -> web.StreamResponse:
    """Answer `"stream": true`: NDJSON, a line per event as written, then "done" with the
    body the plain answer has, or "error". What fails before writing starts (bad input, busy,
    cooldown) is a plain HTTP error, as without `stream`."""
    app = request.app[APP_KEY]
    service = app.requests
    async with service.serving():
        ask, writing = await service.accept(Who("web", f"web:{request.remote}"), body)
        # The song is logged by `finish` (once), whether or not the client stays to read it.
        finishing = asyncio.ensure_future(service.finish(ask, writing))
        response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control":
                                               "no-cache"})
        await response.prepare(request)

        async def send(line: dict[str, Any]) -> None:
            await response.write(json.dumps(line).encode() + b"\n")

        try:
            async for event in writing.events():
                await send(event_line(event))
            try:
                songs = await finishing
            except (GenerationError, StoreUnavailable) as e:
                await send({"event": "error", "error": str(e)})
            except Exception:
                error_id = secrets.token_hex(4)
                log.exception("error %s on %s %s", error_id, request.method, request.path)
                await send({"event": "error", "error": f"something went wrong (id {error_id})"})
            else:
                await send({"event": "done", "prompt": songs[0].ask.prompt,
                            "songs": [_song(s) for s in songs]})
            await response.write_eof()
        except ConnectionError:  # the client left: the song is still finished and logged
            log.info("a streaming client left before its song was finished")
            await asyncio.wait({finishing})
        return response


async def post_lyrics(request: web.Request) -> web.StreamResponse:
    """POST /api/lyrics {prompt, artist?, album?, temperature?, lines?, form?, n?, stream?}."""
    body = await json_object(request)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadBody("stream must be true or false")
    if stream:
        return await _stream(request, body)
    return _json(await _write(request, body))


async def get_songwrite(request: web.Request) -> web.Response:
    """GET /api/songwrite?prompt=&length=&num=&temp=&artist= for the seed's users (length =
    lines)."""
    q = request.query
    result = await _write(request, {"prompt": q.get("prompt"), "lines": q.get("length"),
                                    "n": q.get("num"), "temperature": q.get("temp"),
                                    "artist": q.get("artist")},
                          names={"lines": "length", "n": "num", "temperature": "temp"})
    return _json({**result, "lyrics": [s["text"] for s in result["songs"]]})  # the seed's list


async def get_recent(request: web.Request) -> web.Response:
    """GET /api/recent: the latest songs and their votes."""
    app = request.app[APP_KEY]
    limit = whole_number(request.query.get("limit"), "limit", RECENT) or 10
    rows = await app.store.recent(limit)
    return _json({"songs": [{"id": g.id, "prompt": g.prompt, "text": g.output,
                             "source": g.source, "created_at": g.created_at,
                             "votes_up": v.up, "votes_down": v.down} for g, v in rows]})


async def post_vote(request: web.Request) -> web.Response:
    """POST /api/songs/<id>/vote {vote: "up"|"down", visitor}: one vote per visitor and song,
    changed by voting again; rate-limited per client address (VOTE_COOLDOWN_SECONDS)."""
    body = await json_object(request)  # JSON only: no cross-site votes
    vote, visitor = body.get("vote"), body.get("visitor")
    if not isinstance(vote, str) or vote not in VOTES:
        return _error('vote must be "up" or "down"', 400)
    if not isinstance(visitor, str) or not VISITOR.fullmatch(visitor):
        return _error("visitor must be 16 to 64 letters, digits, - or _ (a random id the "
                      "page makes once and keeps)", 400)
    raw = request.match_info["song"]
    app = request.app[APP_KEY]
    song = await app.store.generation(int(raw)) if SONG_ID.fullmatch(raw) else None
    if song is None or song.status != "ok":  # only a song that was shown can be voted on
        return _error(f"no song with id {raw[:40]}", 404)
    cooldowns, client = request.app[VOTE_COOLDOWNS], f"web:{request.remote}"
    try:
        cooldowns.check(client)
    except OnCooldown as e:
        raise OnCooldown(e.retry_after, "you are voting too fast; try again in "
                                        f"{math.ceil(e.retry_after)} s") from None
    try:
        votes = await app.store.vote(song.id, f"visitor:{visitor}", VOTES[vote])
    except StoreUnavailable:
        cooldowns.forgive(client)  # the vote was not counted: trying again at once is fine
        raise  # a 503 (answer_error)
    return _json({"id": song.id, "vote": vote, "votes_up": votes.up, "votes_down": votes.down})


async def get_status(request: web.Request) -> web.Response:
    """GET /api/status?artist=: what /status shows (default: the first artist), the albums for
    the page, and every artist served with its run in `artists`."""
    app = request.app[APP_KEY]
    return _json(await app.status(request.query.get("artist") or None))  # unknown artist: 400


async def get_health(request: web.Request) -> web.Response:
    """GET /healthz: 200 once every artist's model is loaded and the log works; 503 and the
    reason else. `model` is the first artist's, `models` every artist's; `discord` says whether
    Discord is reachable: the web page works either way."""
    app = request.app[APP_KEY]
    discord = {"discord": app.discord.state}
    try:
        await app.store.check()
    except StoreUnavailable as e:
        return _json({"ok": False, "reason": str(e), **discord}, 503, **{"Retry-After": "60"})
    models = {}
    for artist, deployment in app.deployments.items():
        served = deployment.worker.served
        if served is None:
            return _json({"ok": False, "reason": f"the model of {artist} is still loading",
                          **discord}, 503)
        offline = served.unavailable()
        if offline:  # a remote backend with no server answering
            return _json({"ok": False, "reason": offline, **discord}, 503,
                         **{"Retry-After": "60"})
        models[artist] = served.info.model_id
    return _json({"ok": True, "model": models[app.default.artist], "models": models, **discord})


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer every error as JSON: what a request or the load can cause by `answer_error`, the
    rest as a 500 with an id, logged with the traceback."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status >= 400:  # aiohttp's own 404, 405 (its Allow kept), 413...
            kept = {k: v for k, v in e.headers.items() if k in ("Allow", "Retry-After")}
            return _error(e.reason or "error", e.status, **kept)
        raise
    except Exception as e:
        answer = answer_error(e)
        if answer is None:
            error_id = secrets.token_hex(4)
            log.exception("error %s on %s %s", error_id, request.method, request.path)
            return _error(f"something went wrong (id {error_id})", 500)
        if isinstance(e, StoreUnavailable):  # the database, not the request: worth a line
            log.error("%s %s: %s", request.method, request.path, e)
        return answer


def make_web_app(app: App) -> web.Application:
    """Build the aiohttp application over a running App."""
    # The proxy middleware inside `errors`: a bad X-Forwarded-For from a trusted proxy is a 400
    # in JSON like any other; every handler after it reads the client's own address.
    proxies = TrustedProxies(app.settings.forwarded_allow_ips)
    web_app = web.Application(middlewares=[errors, proxies.middleware],
                              client_max_size=MAX_BODY)
    web_app[APP_KEY] = app
    web_app[VOTE_COOLDOWNS] = Cooldowns(app.settings.vote_cooldown_seconds)
    web_app.on_response_prepare.append(secure)
    web_app.router.add_get("/", get_page)
    web_app.router.add_get("/favicon.ico", get_icon)
    web_app.router.add_get("/favicon.svg", get_icon)
    web_app.router.add_post("/api/lyrics", post_lyrics)
    web_app.router.add_get("/api/songwrite", get_songwrite)
    web_app.router.add_get("/api/recent", get_recent)
    web_app.router.add_post("/api/songs/{song}/vote", post_vote)
    web_app.router.add_get("/api/status", get_status)
    web_app.router.add_get("/healthz", get_health)
    return web_app


async def start_web(app: App, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the web app on host:port (0 = any free port); return the runner and the port."""
    runner = web.AppRunner(make_web_app(app), max_line_size=MAX_URL, max_field_size=MAX_URL,
                           access_log_format='%a "%r" %s %b bytes %Tf s')  # one line a request
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, runner.addresses[0][1]
