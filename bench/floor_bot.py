"""The floor: the least a discord.py bot can do to answer with a model (one reply, one edit).

On a message in a support channel it replies "…", asks the model with one plain aiohttp request,
and edits the reply to the answer. No storage, no matching, no limits: whatever the bot in bot/
costs beyond this is ours. Run by the benchmark as its own process, like the bot:

    DISCORD_TOKEN=… DISCORD_API_BASE=… OPENAI_BASE_URL=… OPENAI_API_KEY=… SUPPORT_CHANNELS=a,b SUPPORT_MODEL=… python -m bench.floor_bot
"""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

from bot.stalls import watch_event_loop  # the same watcher as the bot's, and nothing else of it


class FloorBot(discord.Client):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.channels = set(os.environ["SUPPORT_CHANNELS"].split(","))
        self.model_url = os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}

    async def setup_hook(self) -> None:
        self.session = aiohttp.ClientSession()
        _, url, _ = await self.http.get_bot_gateway()  # the fake Discord's gateway, as the bot asks with DISCORD_API_BASE
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self.watcher = asyncio.create_task(watch_event_loop(float(os.environ.get("LOOP_STALL_MS", "250"))))

    async def close(self) -> None:
        self.watcher.cancel()
        await self.session.close()
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or getattr(message.channel, "name", None) not in self.channels:
            return
        reply = await message.reply("…")
        body = {"model": os.environ["SUPPORT_MODEL"], "messages": [{"role": "user", "content": message.content}]}
        async with self.session.post(self.model_url, json=body, headers=self.headers) as response:
            response.raise_for_status()
            answer = (await response.json())["choices"][0]["message"]["content"]
        await reply.edit(content=answer)


def main() -> None:
    discord.utils.setup_logging(level=logging.WARNING)
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    asyncio.run(FloorBot().start(os.environ["DISCORD_TOKEN"]))


if __name__ == "__main__":
    main()
