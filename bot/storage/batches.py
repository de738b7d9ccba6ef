"""Rows written in batches: queued by the caller, inserted together at most FLUSH_SECONDS later."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Table
from sqlalchemy.exc import DataError

from bot.errors import UserError
from bot.storage.database import Database

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
MAX_PENDING = 50_000  # rows kept while the database is unreachable; past this the oldest are dropped (and logged)


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
        if len(self.pending) > MAX_PENDING:
            del self.pending[: len(self.pending) - MAX_PENDING]
            log.error("the database has refused %s rows for a while; dropping the oldest", self._name)
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
                    # A row already there (another process wrote it) is skipped, not retried forever.
                    await conn.execute(self._db.insert(self._table).on_conflict_do_nothing(), rows)
            except DataError:
                log.exception("%s %s rows the database cannot take were dropped", len(rows), self._name)
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
