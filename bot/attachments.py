"""Reading a dataset a user attached to a command: file type and size checked before downloading."""

from __future__ import annotations

import discord

from bot.errors import UserError
from bot.i18n import _

JSONL_SUFFIXES = (".jsonl", ".json", ".txt")


async def read_attachment(attachment: discord.Attachment, max_mb: float) -> bytes:
    """A JSONL attachment's bytes, refusing other file types, empty and oversized files before downloading."""
    if not attachment.filename.lower().endswith(JSONL_SUFFIXES):
        raise UserError(
            _("{file} isn't a JSONL file: attach a .jsonl file with one JSON object per line.", file=attachment.filename)
        )
    if attachment.size > max_mb * 1_000_000:
        raise UserError(
            _("{file} is {size:.1f} MB; the limit is {most:g} MB.", file=attachment.filename, size=attachment.size / 1e6, most=max_mb)
        )
    if attachment.size == 0:
        raise UserError(_("{file} is empty.", file=attachment.filename))
    try:
        return await attachment.read()
    except discord.HTTPException:
        raise UserError(_("I couldn't download {file}; please attach it again.", file=attachment.filename)) from None
