"""A fake Discord gateway and REST API: real discord.py objects and dispatch, recorded HTTP."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord
from discord.http import Route
from discord.webhook import async_ as webhook_async

APP_ID = 900_000_000_000_000_001
BOT_ID = 900_000_000_000_000_002
GUILD_ID = 100_000_000_000_000_001

SUPPORT_CHANNEL = 200_000_000_000_000_001
GENERAL_CHANNEL = 200_000_000_000_000_002
BAR_CHANNEL = 200_000_000_000_000_003
SUPPORT_THREAD = 200_000_000_000_000_004  # a thread in the support channel

# A stranger's server: someone added the (public) bot to a server of their own, where they manage everything.
STRANGER_GUILD_ID = 100_000_000_000_000_666
STRANGER_SUPPORT_CHANNEL = 200_000_000_000_000_661  # named "support", like the shop's
STRANGER_GENERAL_CHANNEL = 200_000_000_000_000_662
STRANGER_MANAGERS_ROLE = 300_000_000_000_000_661  # carries Manage Server there
STRANGER_ADMINS_ROLE = 300_000_000_000_000_662  # named "Admins", like the shop's admin role

STAFF_ROLE = 300_000_000_000_000_001
ADMIN_ROLE = 300_000_000_000_000_002
MANAGERS_ROLE = 300_000_000_000_000_003  # carries Manage Server

MANAGE_GUILD = 1 << 5
DEFAULT_PERMISSIONS = 0x0000_0000_0006_4C40  # send/read messages, embed, attach, history, reactions


@dataclass(frozen=True)
class FakeUser:
    id: int
    name: str
    roles: tuple[int, ...] = ()
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
            "bot": self.bot,
        }

    def member_payload(self, permissions: int) -> dict[str, Any]:
        return {
            "roles": [str(r) for r in self.roles],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        }


CUSTOMER = FakeUser(400_000_000_000_000_001, "customer")
OTHER_CUSTOMER = FakeUser(400_000_000_000_000_002, "another_customer")
STAFF = FakeUser(400_000_000_000_000_003, "staffer", roles=(STAFF_ROLE,))
ADMIN = FakeUser(400_000_000_000_000_004, "admin", roles=(ADMIN_ROLE,))
MANAGER = FakeUser(400_000_000_000_000_005, "manager", roles=(MANAGERS_ROLE,))
OTHER_BOT = FakeUser(400_000_000_000_000_006, "otherbot", bot=True)
BOT_USER = FakeUser(BOT_ID, "supportbot", bot=True)
STRANGER = FakeUser(400_000_000_000_000_666, "stranger", roles=(STRANGER_MANAGERS_ROLE, STRANGER_ADMINS_ROLE))

_STRANGER_CHANNELS = {STRANGER_SUPPORT_CHANNEL, STRANGER_GENERAL_CHANNEL}


def guild_of(channel_id: int) -> int:
    return STRANGER_GUILD_ID if channel_id in _STRANGER_CHANNELS else GUILD_ID


@dataclass(frozen=True)
class FakeFile:
    """An attachment a user uploads with a slash command."""

    filename: str
    data: bytes
    content_type: str = "application/jsonl"


@dataclass
class Call:
    """One request the bot made to Discord."""

    method: str
    path: str
    payload: dict[str, Any] | None
    files: list[discord.File] = field(default_factory=list)
    reply: dict[str, Any] | None = None  # the message Discord answered with, for sends and edits
    at: float = field(default_factory=time.monotonic)


class FakeDiscord:
    """Drives a real bot: feeds gateway events to its connection state and records its REST calls."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot
        self.state = bot._connection
        self.calls: list[Call] = []
        self._ids = itertools.count(700_000_000_000_000_001)
        self._failures: list[tuple[str, re.Pattern[str], int]] = []
        self.cdn: dict[str, bytes] = {}
        self.messages: dict[str, dict[str, Any]] = {}  # every message posted, by ID, as Discord stores it
        self.guild_locale = "en-US"  # the test server's preferred locale, as GET /guilds/{id} gives it

    # -- set-up ------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in without a network: install the recorders, create the bot user and guild, run setup_hook."""
        self.bot.http.request = self._http_request  # type: ignore[method-assign]
        self.bot.http.get_from_cdn = self._cdn_get  # type: ignore[method-assign]
        self._adapter_token = webhook_async.async_context.set(_RecordingWebhookAdapter(self))
        await self.bot._async_setup_hook()
        self.state.user = discord.ClientUser(state=self.state, data=BOT_USER.payload())
        self.state._add_guild_from_data(self._guild_payload())
        await self.bot.setup_hook()
        self.bot._ready.set()  # as after the gateway's READY
        self.bot.dispatch("ready")
        await self.settle()

    async def add_stranger_guild(self) -> None:
        """Someone adds the bot to a server of their own (GUILD_CREATE for a new guild)."""
        guild = self.state._add_guild_from_data(self._stranger_guild_payload())
        self.bot.dispatch("guild_join", guild)
        await self.settle()

    async def close(self) -> None:
        await self.settle()
        webhook_async.async_context.reset(self._adapter_token)

    def _guild_payload(self) -> dict[str, Any]:
        return _guild(
            GUILD_ID,
            "Test Shop",
            roles=[
                _role(GUILD_ID, "@everyone", DEFAULT_PERMISSIONS, 0),
                _role(STAFF_ROLE, "Staff", DEFAULT_PERMISSIONS, 1),
                _role(ADMIN_ROLE, "Admins", DEFAULT_PERMISSIONS, 2),
                _role(MANAGERS_ROLE, "Managers", DEFAULT_PERMISSIONS | MANAGE_GUILD, 3),
            ],
            channels=[
                _channel(GUILD_ID, SUPPORT_CHANNEL, "support", 0),
                _channel(GUILD_ID, GENERAL_CHANNEL, "general", 1),
                _channel(GUILD_ID, BAR_CHANNEL, "bar", 2),
            ],
            threads=[dict(self.thread_payload(SUPPORT_THREAD, SUPPORT_CHANNEL, {"name": "order 1234"}), owner_id=str(CUSTOMER.id))],
        )

    def _stranger_guild_payload(self) -> dict[str, Any]:
        return _guild(
            STRANGER_GUILD_ID,
            "Stranger's Server",
            roles=[
                _role(STRANGER_GUILD_ID, "@everyone", DEFAULT_PERMISSIONS, 0),
                _role(STRANGER_MANAGERS_ROLE, "Owners", DEFAULT_PERMISSIONS | MANAGE_GUILD, 1),
                _role(STRANGER_ADMINS_ROLE, "Admins", DEFAULT_PERMISSIONS, 2),
            ],
            channels=[
                _channel(STRANGER_GUILD_ID, STRANGER_SUPPORT_CHANNEL, "support", 0),
                _channel(STRANGER_GUILD_ID, STRANGER_GENERAL_CHANNEL, "general", 1),
            ],
        )

    # -- gateway events ----------------------------------------------------------------

    def message_payload(
        self,
        content: str,
        *,
        author: FakeUser = CUSTOMER,
        channel_id: int | None = SUPPORT_CHANNEL,
        mentions: tuple[FakeUser, ...] = (),
        message_type: int = 0,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE payload; channel_id=None makes it a DM."""
        in_guild = channel_id is not None
        data: dict[str, Any] = {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id if in_guild else _dm_channel_id(author)),
            "author": author.payload(),
            "content": content,
            "timestamp": "2026-11-25T10:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [m.payload() for m in mentions],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": message_type,
            "flags": 0,
        }
        if in_guild:
            data["guild_id"] = str(guild_of(channel_id))
            data["member"] = author.member_payload(0)
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"], "guild_id": str(GUILD_ID)}
            data["referenced_message"] = reply_to
        return data

    def message(self, content: str, **kwargs: Any) -> discord.Message:
        """A real message as the gateway would deliver it, not dispatched to the bot; takes message_payload's options."""
        data = self.message_payload(content, **kwargs)
        channel, _ = self.state._get_guild_channel(data)
        return discord.Message(state=self.state, channel=channel, data=data)

    async def send_message(self, content: str, **kwargs: Any) -> dict[str, Any]:
        """A user posts a message; returns its payload once every handler has finished."""
        data = self.message_payload(content, **kwargs)
        self.messages[data["id"]] = data
        self.state.parse_message_create(data)
        await self.settle()
        return data

    async def slash(
        self,
        name: str,
        *,
        user: FakeUser = CUSTOMER,
        channel_id: int | None = GENERAL_CHANNEL,
        locale: str = "en-US",
        **options: Any,
    ) -> int:
        """A user (whose Discord is in `locale`) runs a slash command; returns the interaction ID once it has been handled."""
        options_payload, resolved = [], {}
        for key, value in options.items():
            if value is None:
                continue
            if isinstance(value, FakeFile):
                attachment_id = str(next(self._ids))
                url = f"https://cdn.discordapp.com/attachments/1/{attachment_id}/{value.filename}"
                self.cdn[url] = value.data
                resolved[attachment_id] = {
                    "id": attachment_id,
                    "filename": value.filename,
                    "size": len(value.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": value.content_type,
                }
                options_payload.append({"name": key, "type": 11, "value": attachment_id})
            else:
                options_payload.append({"name": key, "type": _option_type(value), "value": value})
        command, *sub = name.split(" ")
        if sub:  # "model use" is the subcommand "use" of the group "model"
            options_payload = [{"name": sub[0], "type": 1, "options": options_payload}]
        data = {
            "id": str(next(self._ids)),
            "name": command,
            "type": 1,
            "options": options_payload,
            "resolved": {"attachments": resolved},
        }
        interaction_id = self._interaction(2, data, user=user, channel_id=channel_id, locale=locale)
        await self.settle()
        return interaction_id

    def _interaction(self, kind: int, data: dict[str, Any], *, user: FakeUser, channel_id: int | None, **extra: Any) -> int:
        interaction_id = next(self._ids)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": kind,
            "token": f"token-{interaction_id}",
            "version": 1,
            "attachment_size_limit": 10 * 1024 * 1024,
            "locale": extra.pop("locale", "en-US"),
            "data": data,
            **extra,
        }
        if channel_id is None:
            dm = _dm_channel_id(user)
            payload.update(channel={"id": str(dm), "type": 1, "recipients": [user.payload()]}, channel_id=str(dm), user=user.payload(), context=1)
        else:
            member = user.member_payload(self._permissions_of(user))
            member["user"] = user.payload()
            guild_id = guild_of(channel_id)
            payload.update(
                guild_id=str(guild_id),
                channel={"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "x", "position": 0},
                channel_id=str(channel_id),
                member=member,
                context=0,
            )
        self.state.parse_interaction_create(payload)
        return interaction_id

    def modal_of(self, interaction_id: int) -> dict[str, Any]:
        """The form a command opened (its callback of type 9)."""
        [call] = [c for c in self.interaction_calls(interaction_id) if (c.payload or {}).get("type") == 9]
        return call.payload["data"]

    async def submit_modal(
        self, opened_by: int, values: list[str], *, user: FakeUser = CUSTOMER, channel_id: int | None = GENERAL_CHANNEL, locale: str = "en-US"
    ) -> int:
        """The user (whose Discord is in `locale`) fills in the form `opened_by` opened, field by field in order, and submits it."""
        modal = self.modal_of(opened_by)
        rows = [row["components"][0] for row in modal["components"]]
        components = [
            {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": value}]}
            for field, value in zip(rows, values, strict=True)
        ]
        interaction_id = self._interaction(
            5, {"custom_id": modal["custom_id"], "components": components}, user=user, channel_id=channel_id, locale=locale
        )
        await self.settle()
        return interaction_id

    async def click(
        self, label: str, *, user: FakeUser = CUSTOMER, channel_id: int | None = GENERAL_CHANNEL, locale: str = "en-US"
    ) -> int:
        """The user (whose Discord is in `locale`) clicks the newest button with that label (or that emoji)."""
        for call in reversed(self.calls):
            message = call.reply or {}
            for row in message.get("components", []):
                for button in row.get("components", []):
                    if label in (button.get("label"), (button.get("emoji") or {}).get("name")):
                        data = {"custom_id": button["custom_id"], "component_type": 2}
                        interaction_id = self._interaction(3, data, user=user, channel_id=channel_id, message=message, locale=locale)
                        await self.settle()
                        return interaction_id
        raise AssertionError(f"no button labelled {label!r} was sent")

    async def message_command(self, name: str, target: dict[str, Any], *, user: FakeUser = CUSTOMER) -> int:
        """The user runs a right-click message command on `target` (a message payload)."""
        data = {
            "id": str(next(self._ids)),
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        interaction_id = self._interaction(2, data, user=user, channel_id=int(target["channel_id"]))
        await self.settle()
        return interaction_id

    def _permissions_of(self, user: FakeUser) -> int:
        permissions = DEFAULT_PERMISSIONS
        if MANAGERS_ROLE in user.roles or STRANGER_MANAGERS_ROLE in user.roles:
            permissions |= MANAGE_GUILD
        return permissions

    async def _cdn_get(self, url: str) -> bytes:
        self.record("GET", url, None, None)
        return self.cdn[url]

    async def settle(self) -> None:
        """Wait for every event handler and command the events started, and what they started."""
        current = asyncio.current_task()
        while True:
            pending = [
                t
                for t in asyncio.all_tasks()
                if t is not current and not t.done() and t.get_name().startswith(("discord.py", "CommandTree", "discord-ui"))
            ]
            if not pending:
                return
            results = await asyncio.gather(*pending, return_exceptions=True)
            # An exception here escaped every handler the bot has: a test must see it.
            escaped = [r for r in results if isinstance(r, Exception)]
            if escaped:
                raise escaped[0]

    # -- what the bot sent ---------------------------------------------------------------

    def fail_next(self, method: str, path_pattern: str, status: int) -> None:
        """The next matching REST call fails with that HTTP status (403 Forbidden, 404 Not Found...)."""
        self._failures.append((method, re.compile(path_pattern), status))

    def sent_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Payloads of messages posted to channels (not interaction replies)."""
        pattern = re.compile(r"/channels/(\d+)/messages$")
        found = []
        for call in self.calls:
            match = pattern.match(call.path)
            if call.method == "POST" and match and (channel_id is None or int(match[1]) == channel_id):
                found.append(call.payload or {})
        return found

    def shown_messages(self, channel_id: int) -> list[str]:
        """What a person sees in a channel now: each message the bot posted, as last edited."""
        latest: dict[str, str] = {}
        pattern = re.compile(rf"/channels/{channel_id}/messages(/\d+)?$")
        for call in self.calls:
            if call.reply and call.method in ("POST", "PATCH") and pattern.match(call.path):
                latest[call.reply["id"]] = call.reply["content"]
        return list(latest.values())

    def typing_calls(self, channel_id: int) -> int:
        return sum(1 for c in self.calls if c.method == "POST" and c.path == f"/channels/{channel_id}/typing")

    def interaction_calls(self, interaction_id: int) -> list[Call]:
        """Callbacks and follow-ups of one interaction, in order."""
        token = f"token-{interaction_id}"
        return [c for c in self.calls if f"/interactions/{interaction_id}/" in c.path or token in c.path]

    def interaction_texts(self, interaction_id: int) -> list[str]:
        """What the user saw for an interaction: every message content sent for it, in order."""
        texts = []
        for call in self.interaction_calls(interaction_id):
            payload = call.payload or {}
            content = payload.get("data", payload).get("content") if isinstance(payload, dict) else None
            if content:
                texts.append(content)
        return texts

    def ephemeral_texts(self, interaction_id: int) -> list[str]:
        texts = []
        for call in self.interaction_calls(interaction_id):
            body = (call.payload or {}).get("data", call.payload or {})
            if body.get("flags", 0) & 64 and body.get("content"):
                texts.append(body["content"])
        return texts

    def command_syncs(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT" and "/commands" in c.path]

    # -- the REST API ----------------------------------------------------------------

    def record(self, method: str, path: str, payload: Any, files: Any) -> Call:
        # Round-trip through JSON so tests see what would go over the wire.
        wire = json.loads(discord.utils._to_json(payload)) if payload is not None else None
        # Read the files now: discord.py closes them once the request is sent.
        kept = [discord.File(io.BytesIO(_file_bytes(f)), filename=f.filename) for f in files or []]
        call = Call(method, path, wire, kept)
        self.calls.append(call)
        for failure in self._failures:
            fail_method, pattern, status = failure
            if fail_method == method and pattern.search(path):
                self._failures.remove(failure)
                raise _http_error(status)
        return call

    async def _http_request(self, route: Route, *, files: Any = None, form: Any = None, **kwargs: Any) -> Any:
        payload = kwargs.get("json")
        if form:
            payload = _payload_from_form(form)
        path = route.url[len(Route.BASE) :]
        call = self.record(route.method, path, payload, files)
        await asyncio.sleep(0)
        if route.method == "POST" and re.fullmatch(r"/channels/\d+/messages", path):
            return self._answered(call, self.message_reply(int(path.split("/")[2]), payload or {}))
        if re.fullmatch(r"/channels/\d+/messages/\d+", path) and route.method == "PATCH":
            return self._answered(
                call, self.message_reply(int(path.split("/")[2]), payload or {}, message_id=int(path.split("/")[4]))
            )
        if route.method == "GET" and (found := re.fullmatch(r"/channels/\d+/messages/(\d+)", path)):
            if found[1] not in self.messages:
                raise _http_error(404)
            return self.messages[found[1]]
        if route.method == "POST" and (found := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)):
            thread = self.thread_payload(int(found[2]), int(found[1]), {"type": 11, **(payload or {})})  # a thread takes its message's ID
            self.state.parse_thread_create(thread)
            return thread
        if route.method == "POST" and re.fullmatch(r"/channels/\d+/threads", path):
            thread = self.thread_payload(next(self._ids), int(path.split("/")[2]), payload or {})
            self.state.parse_thread_create(thread)  # Discord follows up with THREAD_CREATE
            return thread
        if route.method == "PUT" and path.endswith("/commands"):
            # Discord answers with the commands as stored: IDs added, context menus with an empty description.
            return [
                {"description": "", **c, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1"}
                for c in payload or []
            ]
        if route.method == "GET" and path == f"/guilds/{GUILD_ID}":
            return {**self._guild_payload(), "preferred_locale": self.guild_locale}
        if route.method == "GET" and (found := re.fullmatch(r"/channels/(\d+)", path)):
            channels = {c["id"]: c for c in self._guild_payload()["channels"]}
            if found[1] not in channels:
                raise _http_error(404)
            return channels[found[1]]
        if route.method == "POST" and path == "/users/@me/channels":
            return {"id": str(next(self._ids)), "type": 1, "recipients": []}
        return None

    def thread_payload(self, thread_id: int, parent_id: int, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "type": request.get("type", 11),
            "guild_id": str(GUILD_ID),
            "parent_id": str(parent_id),
            "name": request.get("name", "thread"),
            "owner_id": str(BOT_ID),
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": request.get("auto_archive_duration", 1440),
                "archive_timestamp": "2026-11-25T10:00:00+00:00",
                "locked": False,
                "invitable": request.get("invitable", True),
            },
        }

    def created_threads(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and re.fullmatch(r"/channels/\d+/threads", c.path)]

    def edits(self, channel_id: int | None = None) -> list[Call]:
        """Message edits, in order."""
        pattern = re.compile(r"/channels/(\d+)/messages/\d+$")
        return [
            c for c in self.calls
            if c.method == "PATCH" and (m := pattern.match(c.path)) and (channel_id is None or int(m[1]) == channel_id)
        ]

    @staticmethod
    def _answered(call: Call, reply: dict[str, Any]) -> dict[str, Any]:
        call.reply = reply
        return reply

    def message_reply(self, channel_id: int, payload: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        """The message object Discord answers a successful send or edit with (and keeps)."""
        stored = self.messages.get(str(message_id)) if message_id else None
        if stored is not None:  # an edit changes only what it sends
            reply = stored | {key: payload[key] for key in ("content", "components", "embeds") if key in payload}
            self.messages[reply["id"]] = reply
            return reply
        reply = self._message_object(channel_id, payload, message_id)
        reference = payload.get("message_reference")
        if reference:
            reply |= {"type": 19, "message_reference": reference}
            if str(reference.get("message_id")) in self.messages:
                reply["referenced_message"] = self.messages[str(reference["message_id"])]
        self.messages[reply["id"]] = reply
        return reply

    def _message_object(self, channel_id: int, payload: dict[str, Any], message_id: int | None) -> dict[str, Any]:
        return {
            "id": str(message_id or next(self._ids)),
            "channel_id": str(channel_id),
            "author": BOT_USER.payload(),
            "content": payload.get("content") or "",
            "timestamp": "2026-11-25T10:00:01+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": payload.get("flags", 0),
        }


class _RecordingWebhookAdapter(webhook_async.AsyncWebhookAdapter):
    """Interaction callbacks and follow-ups go through webhooks; record them the same way."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__()
        self.fake = fake

    async def request(self, route: Route, session: Any, *, payload: Any = None, multipart: Any = None, files: Any = None, **kwargs: Any) -> Any:  # noqa: E501
        if multipart:
            payload = _payload_from_form(multipart)
        path = route.url[len(Route.BASE) :]
        call = self.fake.record(route.method, path, payload, files)
        await asyncio.sleep(0)
        if path.endswith("/callback"):
            interaction_id = path.split("/")[2]
            body = payload or {}
            resource: dict[str, Any] = {"type": body.get("type", 4)}
            if body.get("type") == 4:
                resource["message"] = self.fake.message_reply(0, body.get("data") or {})
            return {
                "interaction": {"id": interaction_id, "type": 2, "response_message_loading": body.get("type") == 5},
                "resource": resource,
            }
        if route.method in ("POST", "PATCH") and path.startswith("/webhooks/"):
            return self.fake._answered(call, self.fake.message_reply(GENERAL_CHANNEL, payload or {}))
        return None


def _file_bytes(file: discord.File) -> bytes:
    file.reset()
    return file.fp.read()


def _payload_from_form(form: Any) -> dict[str, Any] | None:
    for part in form:
        if part.get("name") == "payload_json":
            return json.loads(part["value"])
    return None


def _http_error(status: int) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason={403: "Forbidden", 404: "Not Found"}.get(status, "Error"))
    kinds = {403: discord.Forbidden, 404: discord.NotFound}
    if status >= 500:
        return discord.DiscordServerError(response, {"message": "server error", "code": 0})
    return kinds.get(status, discord.HTTPException)(response, {"message": "failed", "code": 0})


def _role(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
    return {
        "id": str(role_id), "name": name, "permissions": str(permissions), "position": position, "color": 0,
        "hoist": False, "managed": False, "mentionable": False, "flags": 0,
    }


def _channel(guild_id: int, channel_id: int, name: str, position: int) -> dict[str, Any]:
    return {
        "id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": name, "position": position,
        "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "rate_limit_per_user": 0,
    }


def _guild(guild_id: int, name: str, *, roles: list, channels: list, threads: list | None = None) -> dict[str, Any]:
    return {
        "id": str(guild_id), "name": name, "owner_id": "1", "member_count": 10, "roles": roles, "channels": channels,
        "threads": threads or [], "members": [], "emojis": [], "stickers": [], "features": [],
    }


def _dm_channel_id(user: FakeUser) -> int:
    return user.id + 1


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    return 3
