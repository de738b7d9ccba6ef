"""Rows written in batches: queued by the caller, inserted together at most FLUSH_SECONDS later."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Table, insert

from bot.errors import UserError
from bot.storage.database import Database

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25


class Batch:
    """One transaction per row would queue every reply behind the others' writes under load: rows wait here.

    Readers of the table call `flush` first; `lock` is held while taken rows are written, so a reader holding
    it sees every row either in the table or in `pending`.
    """

    def __init__(self, db: Database, table: Table, name: str) -> None:
        self._db = db
        self._table = table
        self._name = name
        self.pending: list[dict] = []
        self.lock = asyncio.Lock()
        self._flush: asyncio.Task[None] | None = None

    def add(self, row: dict) -> None:
        self.pending.append(row)
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_soon(), name=f"{self._name}-flush")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await self.flush()
        except UserError:
            pass  # storage unavailable, already logged; the rows stay queued for the next flush

    async def flush(self) -> None:
        async with self.lock:
            if not self.pending:
                return
            rows, self.pending = self.pending, []
            try:
                async with self._db.write() as conn:
                    await conn.execute(insert(self._table), rows)
            except BaseException:
                self.pending[:0] = rows
                raise

    async def close(self) -> None:
        """Write what is queued before the database closes."""
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
        try:
            await self.flush()
        except UserError:
            log.error("%s %s rows could not be saved before closing", len(self.pending), self._name)
