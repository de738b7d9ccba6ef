"""A fake Discord for the benchmark: REST and gateway over loopback, with Discord's rate-limit headers.

A real bot process connects to it as to Discord (its REST base pointed here with DISCORD_API_BASE;
the gateway URL comes from GET /gateway/bot). Every route bucket (method, route, channel) allows
RATE_LIMIT requests per second and answers 429 with `retry_after` beyond that, with the same
X-RateLimit-* headers Discord sends, so discord.py paces itself as it would in production.

The load (bench/load.py) posts customers' messages as MESSAGE_CREATE events and reads back the
requests the bot makes (`Request`), each stamped with the time it arrived.
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

RATE_LIMIT = 50  # requests per bucket per second
APP_ID = 910_000_000_000_000_001
BOT_ID = 910_000_000_000_000_002
OWNER_ID = 910_000_000_000_000_003
GUILD_ID = 110_000_000_000_000_001
EVERYONE_PERMISSIONS = 0x0000_0000_0006_4C40  # send/read messages, embed, attach, history, reactions


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "global_name": None, "discriminator": "0", "avatar": None, "bot": bot}


@dataclass
class Request:
    at: float  # time.monotonic() when it arrived
    method: str
    path: str  # without the /api/v10 prefix
    body: dict[str, Any]
    status: int
    message_id: str | None = None  # the message created or edited


@dataclass
class _Bucket:
    window_start: float = 0.0
    used: int = 0


@dataclass
class FakeDiscordServer:
    """One guild with the given text channels; records every REST request and enforces per-bucket rate limits."""

    channels: dict[str, int]  # name -> id
    requests: list[Request] = field(default_factory=list)
    on_request: Callable[[Request], None] | None = None
    limited: int = 0  # 429s answered
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _sequence: itertools.count = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(800_000_000_000_000_001))
    _identified: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> str:
        """Listen on a free loopback port; returns the REST base URL (…/api/v10)."""
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return f"{self.base}/api/v10"

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await self._runner.cleanup()

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until a bot has identified on the gateway and received its guild."""
        await asyncio.wait_for(self._identified.wait(), timeout)

    def reset_ready(self) -> None:
        self._identified = asyncio.Event()

    # -- the gateway ---------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41_250}, "s": None, "t": None}))
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                if payload["op"] == 1:  # heartbeat
                    await socket.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif payload["op"] == 2:  # identify
                    await self._dispatch_to(socket, "READY", {
                        "v": 10, "user": user_payload(BOT_ID, "benchbot", bot=True), "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                        "session_id": "bench", "resume_gateway_url": f"{self.base.replace('http', 'ws')}/gateway",
                        "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [], "relationships": [],
                    })
                    await self._dispatch_to(socket, "GUILD_CREATE", self._guild())
                    self._identified.set()
        finally:
            self._sockets.remove(socket)
        return socket

    async def _dispatch_to(self, socket: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await socket.send_str(json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        for socket in list(self._sockets):
            await self._dispatch_to(socket, event, data)

    def _guild(self) -> dict[str, Any]:
        channels = [
            {"id": str(channel_id), "type": 0, "guild_id": str(GUILD_ID), "name": name, "position": n,
             "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "rate_limit_per_user": 0}
            for n, (name, channel_id) in enumerate(self.channels.items())
        ]
        everyone = {"id": str(GUILD_ID), "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS), "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        return {
            "id": str(GUILD_ID), "name": "Bench Shop", "owner_id": str(OWNER_ID), "member_count": 2, "roles": [everyone],
            "channels": channels, "threads": [], "members": [], "emojis": [], "stickers": [], "features": [],
            "unavailable": False, "large": False, "joined_at": "2026-12-01T00:00:00+00:00",
        }

    def message(self, content: str, *, channel_id: int, author_id: int) -> dict[str, Any]:
        """A customer's MESSAGE_CREATE payload."""
        return {
            "id": str(next(self._ids)), "channel_id": str(channel_id), "guild_id": str(GUILD_ID),
            "author": user_payload(author_id, f"customer{author_id % 100_000}"),
            "member": {"roles": [], "joined_at": "2026-12-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0},
            "content": content, "timestamp": "2026-12-04T10:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": False, "type": 0, "flags": 0,
        }

    # -- REST ------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.json() if request.can_read_body and request.content_type == "application/json" else {}
        limit_headers, retry_after = self._take(request.method, path)
        if retry_after is not None:
            self.limited += 1
            self._record(Request(time.monotonic(), request.method, path, body, 429))
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                status=429, headers={**limit_headers, "Retry-After": f"{retry_after:.3f}", "X-RateLimit-Scope": "user"},
            )
        status, answer = self._answer(request.method, path, body)
        message_id = answer.get("id") if status == 200 and isinstance(answer, dict) and "channel_id" in answer else None
        self._record(Request(time.monotonic(), request.method, path, body, status, message_id))
        if status == 204:
            return web.Response(status=204, headers=limit_headers)
        return _json(answer, status=status, headers=limit_headers)

    def _record(self, request: Request) -> None:
        self.requests.append(request)
        if self.on_request is not None:
            self.on_request(request)

    def _take(self, method: str, path: str) -> tuple[dict[str, str], float | None]:
        """Count the request against its bucket: the route with its channel ID kept and other IDs blanked."""
        route = re.sub(r"(?<!channels)/\d{15,}", "/{id}", path)
        bucket = self._buckets.setdefault(f"{method} {route}", _Bucket())
        now = time.monotonic()
        if now - bucket.window_start >= 1.0:
            bucket.window_start, bucket.used = now, 0
        reset_after = max(0.001, 1.0 - (now - bucket.window_start))
        headers = {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"{abs(hash(f'{method} {route}')):x}",
        }
        if bucket.used >= RATE_LIMIT:
            return {**headers, "X-RateLimit-Remaining": "0"}, round(reset_after, 3)
        bucket.used += 1
        return {**headers, "X-RateLimit-Remaining": str(RATE_LIMIT - bucket.used)}, None

    def _answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/gateway/bot":
            return 200, {"url": f"{self.base.replace('http', 'ws')}/gateway", "shards": 1,
                         "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}}
        if method == "GET" and path == "/users/@me":
            return 200, user_payload(BOT_ID, "benchbot", bot=True)
        if method == "GET" and path == "/oauth2/applications/@me":
            return 200, {"id": str(APP_ID), "name": "benchbot", "icon": None, "description": "", "bot_public": False,
                         "bot_require_code_grant": False, "owner": user_payload(OWNER_ID, "owner"), "verify_key": "0" * 64,
                         "team": None, "flags": 0, "summary": ""}
        if parts[0] == "applications" and parts[-1] == "commands":
            if method == "PUT":
                return 200, [
                    {"description": "", "options": [], **command, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1"}
                    for command in body
                ]
            return 200, []
        if parts[0] == "channels" and parts[-1] == "typing" and method == "POST":
            return 204, None
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            channel_id = parts[1]
            if method == "POST" and len(parts) == 3:
                return 200, self._sent(channel_id, str(next(self._ids)), body)
            if method == "PATCH" and len(parts) == 4:
                return 200, self._sent(channel_id, parts[3], body)
        return 404, {"message": f"Unknown route {method} {path}", "code": 0}

    def _sent(self, channel_id: str, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The message as Discord returns it after a create or an edit."""
        sent = {
            "id": message_id, "channel_id": channel_id, "guild_id": str(GUILD_ID),
            "author": user_payload(BOT_ID, "benchbot", bot=True), "content": body.get("content") or "",
            "timestamp": "2026-12-04T10:00:00+00:00", "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": body.get("embeds") or [], "pinned": False,
            "type": 19 if body.get("message_reference") else 0, "flags": 0,
        }
        if body.get("message_reference"):
            sent["message_reference"] = body["message_reference"]
        return sent


def _json(data: Any, *, status: int, headers: dict[str, str]) -> web.Response:
    """JSON as Discord sends it: discord.py parses a body only when the content type is exactly application/json."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={**headers, "Content-Type": "application/json"})
