"""Reading a dataset a user attached to a command: file type and size checked before downloading."""

from __future__ import annotations

import discord

from bot.errors import UserError

JSONL_SUFFIXES = (".jsonl", ".json", ".txt")


async def read_attachment(attachment: discord.Attachment, max_mb: float) -> bytes:
    """A JSONL attachment's bytes, refusing other file types, empty and oversized files before downloading."""
    if not attachment.filename.lower().endswith(JSONL_SUFFIXES):
        raise UserError(f"{attachment.filename} isn't a JSONL file: attach a .jsonl file with one JSON object per line.")
    if attachment.size > max_mb * 1_000_000:
        raise UserError(f"{attachment.filename} is {attachment.size / 1e6:.1f} MB; the limit is {max_mb:g} MB.")
    if attachment.size == 0:
        raise UserError(f"{attachment.filename} is empty.")
    try:
        return await attachment.read()
    except discord.HTTPException:
        raise UserError(f"I couldn't download {attachment.filename}; please attach it again.") from None
