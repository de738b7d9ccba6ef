"""HandoffStore: customers' questions passed to staff, open until answered; one open handoff per customer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.records import Handoff, utcnow
from bot.storage.database import Database
from bot.storage.schema import handoffs

OPEN, ANSWERED = "open", "answered"
_HANDOFF = tuple(handoffs.c)


class HandoffStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open_or_join(
        self, *, customer_id: int, guild_id: int | None, channel_id: int, message_id: int | None, question: str,
        bot_answer: str | None, reason: str, most: int,
    ) -> tuple[Handoff, bool]:
        """The customer's open handoff with this question added (True), or a new one.

        The question is appended in one UPDATE on the open row, so concurrent joins all land and a handoff answered
        meanwhile takes none; two processes opening a customer's first handoff at once: the loser joins.
        """
        joined = handoffs.c.question + "\n" + question
        for _ in range(3):
            try:
                async with self._db.write() as conn:
                    now = utcnow()
                    row = (await conn.execute(
                        update(handoffs)
                        .where(handoffs.c.customer_id == customer_id, handoffs.c.status == OPEN)
                        .values(
                            question=case((func.length(handoffs.c.question) < most, joined), else_=handoffs.c.question),
                            updated_at=now,
                        )
                        .returning(*_HANDOFF)
                    )).first()
                    if row is not None:
                        return Handoff(*row), True
                    row = (await conn.execute(
                        insert(handoffs).values(
                            customer_id=customer_id, guild_id=guild_id, channel_id=channel_id, message_id=message_id,
                            question=question, bot_answer=bot_answer, reason=reason, status=OPEN, created_at=now,
                            updated_at=now,
                        ).returning(*_HANDOFF)
                    )).first()
                    return Handoff(*row), False
            except IntegrityError:
                continue
        raise RuntimeError(f"could not open or join a handoff for customer {customer_id}")

    async def set_staff_post(self, handoff_id: int, *, message_id: int, thread_id: int | None) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(handoffs).where(handoffs.c.id == handoff_id).values(staff_message_id=message_id, staff_thread_id=thread_id)
            )

    async def answer(self, handoff_id: int, *, by: int, answer: str, seen: datetime) -> Handoff | None:
        """Mark an open handoff answered if unchanged since `seen`; None when answered already or changed meanwhile."""
        async with self._db.write() as conn:
            row = (await conn.execute(
                update(handoffs)
                .where(handoffs.c.id == handoff_id, handoffs.c.status == OPEN, handoffs.c.updated_at == seen)
                .values(status=ANSWERED, answered_by=by, answered_at=utcnow(), answer=answer, updated_at=utcnow())
                .returning(*_HANDOFF)
            )).first()
        return Handoff(*row) if row else None

    async def reopen(self, handoff_id: int) -> bool:
        """Open an answered handoff again; False when the customer has opened another one meanwhile."""
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    update(handoffs)
                    .where(handoffs.c.id == handoff_id, handoffs.c.status == ANSWERED)
                    .values(status=OPEN, answered_by=None, answered_at=None, answer=None, updated_at=utcnow())
                )
        except IntegrityError:
            return False
        return True

    async def get(self, handoff_id: int) -> Handoff | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_HANDOFF).where(handoffs.c.id == handoff_id))).first()
        return Handoff(*row) if row else None

    async def open_ones(self, limit: int = 25) -> list[Handoff]:
        """Open handoffs, oldest first."""
        query = select(*_HANDOFF).where(handoffs.c.status == OPEN).order_by(handoffs.c.id).limit(limit)
        async with self._db.read() as conn:
            return [Handoff(*row) for row in (await conn.execute(query)).all()]

    async def due_reminders(self, opened_before: datetime) -> list[Handoff]:
        """Open handoffs older than `opened_before` not re-announced yet, oldest first."""
        query = (
            select(*_HANDOFF)
            .where(handoffs.c.status == OPEN, handoffs.c.reminded_at.is_(None), handoffs.c.created_at < opened_before)
            .order_by(handoffs.c.id)
        )
        async with self._db.read() as conn:
            return [Handoff(*row) for row in (await conn.execute(query)).all()]

    async def mark_reminded(self, handoff_id: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(reminded_at=utcnow()))

    async def count_open(self) -> int:
        async with self._db.read() as conn:
            return (await conn.execute(select(func.count()).select_from(handoffs).where(handoffs.c.status == OPEN))).scalar_one()
