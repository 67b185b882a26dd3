"""A fake Discord on 127.0.0.1 (REST + gateway websocket) that the real discord.py client talks to.

discord.py takes its addresses from `Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`, which
`bot.chat.client.point_at` sets. Every REST call is recorded with its JSON body and arrival time, so
tests can assert what the bot really sent (defer before generating, allowed_mentions, buttons...).
Tests inject interactions over the gateway the way Discord delivers them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 1000
GUILD_ID = 2000  # on shard 0 of 2: a guild's shard is (id >> 22) % shards
OTHER_GUILD_ID = (1 << 22) | 2000  # on shard 1 of 2
CHANNEL_ID = 3000
NSFW_CHANNEL_ID = 4000  # each guild's age-restricted channel: 4000 + its id
STRANGER_GUILD_ID = 5000  # a server that has not added the app: only its users installed it
DM_ID, GROUP_DM_ID = 6000, 6001
USE_EXTERNAL_APPS = 1 << 50
# Where an interaction comes from: a server that added the app (its `context` 0, the guild
# install its authorizing owner), or, from a user's own install (owner "1"), a server without
# the app, a DM with the bot (context 1), a group DM (context 2): the last two have no member.
PLACES = ("guild", "stranger", "dm", "group")
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
NOW = "2026-11-27T12:00:00.000000+00:00"
BOT_USER = {"id": str(APP_ID), "username": "SwiftAI", "discriminator": "0", "avatar": None,
            "bot": True, "global_name": None}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived: tests pace edits by it

    @property
    def token(self) -> str | None:
        match = re.search(r"/(?:interactions/\d+|webhooks/\d+)/([^/]+)", self.path)
        return match.group(1) if match else None


def user(user_id: int, name: str = "fan") -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None,
            "global_name": None}


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly application/json: with "; charset=utf-8" discord.py fails to log in.
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})


def shard_of(guild_id: int, shards: int) -> int:
    """Return the shard Discord delivers a guild's events on."""
    return (guild_id >> 22) % shards


class FakeDiscord:
    def __init__(self, shards: int = 1) -> None:
        self.shards = shards  # what GET /gateway/bot recommends
        self.identified: list[list[int]] = []  # each IDENTIFY's [shard_id, shard_count]
        self.calls: list[Call] = []
        self.messages: dict[str, dict[str, Any]] = {}  # interaction token -> original message
        self._changed = asyncio.Condition()
        self._ids = itertools.count(10_000)
        self._seq = itertools.count(1)
        self._ws: dict[int, web.WebSocketResponse] = {}  # shard id -> its connection
        self._shard_ready: dict[int, asyncio.Event] = {}
        self._count = 1  # the shard count the bot identified with
        self.connected = asyncio.Event()  # set when a shard is ready
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.refuse_token = False  # answer the login with 401, as Discord does a bad token

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for ws in list(self._ws.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what tests use -----------------------------------------------------------------------

    async def wait_for(self, match: Callable[[Call], bool], timeout: float = 60) -> Call:
        """Wait until the bot has made a call that `match` accepts; return it."""
        async def found() -> Call:
            async with self._changed:
                while True:
                    for call in self.calls:
                        if match(call):
                            return call
                    await self._changed.wait()
        return await asyncio.wait_for(found(), timeout)

    def calls_for(self, token: str) -> list[Call]:
        """Return every call the bot made about one interaction."""
        return [c for c in self.calls if c.token == token]

    async def command(self, name: str, options: dict[str, Any] | None = None, user_id: int = 1,
                      permissions: int = 0, guild_id: int = GUILD_ID, place: str = "guild",
                      nsfw: bool = False) -> str:
        """Deliver a slash command as user `user_id` in a guild (on the guild's shard), or in
        another of PLACES; return the interaction token."""
        types = {bool: 5, int: 4, float: 10, str: 3}
        data = {"id": str(next(self._ids)), "name": name, "type": 1,
                "options": [{"name": k, "type": types[type(v)], "value": v}
                            for k, v in (options or {}).items()]}
        return await self._interact(2, data, user_id, permissions, guild_id=guild_id,
                                    place=place, nsfw=nsfw)

    async def message_command(self, name: str, content: str, user_id: int = 1,
                              place: str = "guild", permissions: int = 0) -> str:
        """Deliver a message menu command (Apps → `name`) on a message holding `content`."""
        target = self._message({"content": content})
        target["author"] = user(7, "poster")
        data = {"id": str(next(self._ids)), "name": name, "type": 3,
                "target_id": target["id"], "resolved": {"messages": {target["id"]: target}}}
        return await self._interact(2, data, user_id, permissions, place=place)

    async def autocomplete(self, name: str, options: dict[str, str], focused: str,
                           user_id: int = 1) -> str:
        """Deliver an autocomplete request while a user types option `focused`."""
        data = {"id": str(next(self._ids)), "name": name, "type": 1,
                "options": [{"name": k, "type": 3, "value": v, "focused": k == focused}
                            for k, v in options.items()]}
        return await self._interact(4, data, user_id, 0)

    async def click(self, custom_id: str, message: dict[str, Any], user_id: int = 1,
                    place: str = "guild") -> str:
        """Deliver a button click on `message`; return the interaction token."""
        return await self._interact(3, {"custom_id": custom_id, "component_type": 2}, user_id,
                                    0, message=message, place=place)

    async def _interact(self, kind: int, data: dict[str, Any], user_id: int, permissions: int,
                        message: dict[str, Any] | None = None, guild_id: int = GUILD_ID,
                        place: str = "guild", nsfw: bool = False) -> str:
        await asyncio.wait_for(self.connected.wait(), 30)
        guild_id = STRANGER_GUILD_ID if place == "stranger" else guild_id
        # Interactions outside the app's servers come on shard 0, as Discord sends DMs.
        shard = shard_of(guild_id, self._count) if place == "guild" else 0
        await asyncio.wait_for(self._ready(shard).wait(), 30)
        interaction_id = next(self._ids)
        token = f"token-{interaction_id}"
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(APP_ID), "type": kind,
            "token": token, "version": 1, "data": data, "locale": "en-US",
            "attachment_size_limit": 8_388_608, "entitlements": [],
            "app_permissions": str(1 << 11 | 1 << 14)}
        if place in ("guild", "stranger"):
            channel = self._channel(guild_id, nsfw)
            owners = {"0": str(guild_id)} if place == "guild" else {"1": str(user_id)}
            payload.update({
                "guild_id": str(guild_id), "guild_locale": "en-US", "context": 0,
                "channel_id": channel["id"], "channel": channel,
                "authorizing_integration_owners": owners,
                "member": {"user": user(user_id), "roles": [], "flags": 0, "joined_at": NOW,
                           "deaf": False, "mute": False, "permissions": str(permissions),
                           "nick": None, "avatar": None, "premium_since": None,
                           "pending": False}})
        else:
            assert place in PLACES, place
            group = place == "group"
            channel = {"id": str(GROUP_DM_ID if group else DM_ID), "type": 3 if group else 1,
                       "flags": 0, "last_message_id": None,
                       "recipients": [user(user_id)] + ([user(8, "friend")] if group else [])}
            if group:
                channel.update({"name": None, "icon": None, "owner_id": str(user_id)})
            payload.update({"context": 2 if group else 1, "channel_id": channel["id"],
                            "channel": channel, "user": user(user_id),
                            "authorizing_integration_owners": {"1": str(user_id)}})
        if message is not None:
            payload["message"] = message
        await self._dispatch("INTERACTION_CREATE", payload, shard)
        return token

    # ---- gateway ------------------------------------------------------------------------------

    def _ready(self, shard: int) -> asyncio.Event:
        return self._shard_ready.setdefault(shard, asyncio.Event())

    async def _dispatch(self, event: str, data: dict[str, Any], shard: int = 0) -> None:
        ws = self._ws.get(shard)
        assert ws is not None, f"shard {shard} of the bot is not connected"
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000},
                                      "s": None, "t": None}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["op"] == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif frame["op"] == 2:
                shard, self._count = frame["d"].get("shard") or [0, 1]
                self.identified.append([shard, self._count])
                self._ws[shard] = ws
                guilds = [g for g in (GUILD_ID, OTHER_GUILD_ID)
                          if shard_of(g, self._count) == shard]
                await self._dispatch("READY", {
                    "v": 10, "user": BOT_USER, "session_id": f"fake-session-{shard}",
                    "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                    "shard": [shard, self._count]}, shard)
                for guild in guilds:
                    await self._dispatch("GUILD_CREATE", self._guild(guild), shard)
                self._ready(shard).set()
                self.connected.set()
        return ws

    def _channel(self, guild_id: int = GUILD_ID, nsfw: bool = False) -> dict[str, Any]:
        return {"id": str((NSFW_CHANNEL_ID if nsfw else CHANNEL_ID) + guild_id), "type": 0,
                "guild_id": str(guild_id), "name": "after-dark" if nsfw else "general",
                "position": int(nsfw), "permission_overwrites": [], "nsfw": nsfw,
                "parent_id": None}

    def _guild(self, guild_id: int = GUILD_ID) -> dict[str, Any]:
        everyone = {"id": str(guild_id), "name": "@everyone", "permissions": "0", "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        return {"id": str(guild_id), "name": f"Server {guild_id}", "icon": None, "owner_id": "1",
                "roles": [everyone], "emojis": [], "stickers": [], "features": [],
                "member_count": 2, "members": [],
                "channels": [self._channel(guild_id), self._channel(guild_id, nsfw=True)],
                "threads": [],
                "presences": [], "voice_states": [], "stage_instances": [],
                "guild_scheduled_events": [], "large": False, "unavailable": False,
                "joined_at": NOW, "premium_tier": 0, "preferred_locale": "en-US",
                "verification_level": 0, "default_message_notifications": 0,
                "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
                "system_channel_flags": 0, "afk_timeout": 300}

    # ---- REST ---------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body and request.content_type == \
            "application/json" else {}
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body = json.loads(form.get("payload_json", "{}"))  # type: ignore[arg-type]
        call = Call(request.method, path, body)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return self._answer(call)

    def _message(self, body: dict[str, Any], kind: int = 0) -> dict[str, Any]:
        return {"id": str(next(self._ids)), "channel_id": str(CHANNEL_ID + GUILD_ID),
                "type": kind,
                "content": body.get("content") or "", "author": BOT_USER,
                "embeds": body.get("embeds") or [], "components": body.get("components") or [],
                "attachments": [], "mentions": [], "mention_roles": [],
                "mention_everyone": False, "pinned": False, "tts": False, "timestamp": NOW,
                "edited_timestamp": None, "flags": body.get("flags") or 0}

    def _answer(self, call: Call) -> web.Response:
        method, path, body = call.method, call.path, call.body
        if method == "GET" and path == "/users/@me":
            if self.refuse_token:
                return _json({"message": "401: Unauthorized", "code": 0}, 401)
            return _json(BOT_USER)
        if method == "GET" and path == "/gateway/bot":
            return _json({"url": self.gateway_url, "shards": self.shards,
                          "session_start_limit": {"total": 1000, "remaining": 1000,
                                                  "reset_after": 0, "max_concurrency": 16}})
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json({"id": str(APP_ID), "name": "SwiftAI", "description": "",
                          "icon": None, "bot_public": True, "bot_require_code_grant": False,
                          "owner": user(1, "owner"), "verify_key": "00",
                          "interactions_endpoint_url": None, "flags": 0})
        if method == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            # A message menu has no description; Discord answers it as "".
            return _json([{"description": "", **c, "id": str(next(self._ids)),
                           "application_id": str(APP_ID),
                           "version": "1", "default_member_permissions":
                           c.get("default_member_permissions")} for c in body])
        if method == "POST" and path.startswith("/interactions/"):
            kind = body.get("type")
            flags = (body.get("data") or {}).get("flags") or 0
            answer: dict[str, Any] = {"interaction": {
                "id": path.split("/")[2], "type": 2, "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & 64)}}
            if kind in (4, 7):
                message = self._message(body.get("data") or {})
                answer["resource"] = {"type": kind, "message": message}
            return _json(answer)
        if method in ("PATCH", "GET") and path.endswith("/messages/@original"):
            token = call.token or ""
            message = self.messages.get(token) or self._message({}, kind=20)
            if method == "PATCH":
                message = {**message, **{k: v for k, v in body.items()
                                         if k in ("content", "embeds", "components")}}
                self.messages[token] = message
            return _json(message)
        if method == "POST" and (path.startswith("/webhooks/") or path.startswith("/channels/")):
            return _json(self._message(body))
        return _json({"message": "404: Not Found", "code": 0}, status=404)
