"""ExampleStore: the examples staff taught, the audit log of every change to them, and their cached vectors."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.records import AuditEntry, Example, utcnow
from bot.storage.database import Database
from bot.storage.schema import audit_log, example_vectors, examples, meta

SAMPLE_SEEDED_KEY = "sample_examples_seeded"
_COLUMNS = (examples.c.id, examples.c.question, examples.c.answer, examples.c.author_id, examples.c.created_at)


class ExampleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, question: str, answer: str, *, author_id: int | None, action: str = "teach") -> Example:
        """Store an example and its audit entry together."""
        created_at = utcnow()
        async with self._db.write() as conn:
            example_id = (
                await conn.execute(
                    insert(examples)
                    .values(question=question, answer=answer, author_id=author_id, created_at=created_at)
                    .returning(examples.c.id)
                )
            ).scalar_one()
            await _audit(conn, author_id, action, example_id, question)
        return Example(example_id, question, answer, author_id, created_at)

    async def replace_answer(self, example_id: int, answer: str, *, author_id: int | None, also: Sequence[int] = ()) -> Example | None:
        """Give example `example_id` (and the examples in `also`, other phrasings of its question) a new answer, together."""
        async with self._db.write() as conn:
            row = None
            for changed in (example_id, *also):
                result = (
                    await conn.execute(
                        update(examples)
                        .where(examples.c.id == changed)
                        .values(answer=answer, author_id=author_id, updated_at=utcnow())
                        .returning(*_COLUMNS)
                    )
                ).first()
                if changed == example_id:
                    if result is None:
                        return None
                    row = result
                if result is not None:
                    await _audit(conn, author_id, "replace", changed, answer)
        return Example(*row)

    async def remove(self, example_id: int, *, actor_id: int | None) -> Example | None:
        async with self._db.write() as conn:
            row = (await conn.execute(delete(examples).where(examples.c.id == example_id).returning(*_COLUMNS))).first()
            if row is None:
                return None
            example = Example(*row)
            await _audit(conn, actor_id, "remove", example_id, f"{example.question} -> {example.answer}")
        return example

    async def import_many(
        self, new: list[tuple[str, str]], replaced: list[tuple[int, str]], *, actor_id: int | None, source: str
    ) -> None:
        """Add and replace many examples in one transaction: all of them or none."""
        async with self._db.write() as conn:
            await _import(conn, new, replaced, actor_id=actor_id, source=source)

    async def seeded(self) -> bool:
        async with self._db.read() as conn:
            return (await conn.execute(select(meta.c.key).where(meta.c.key == SAMPLE_SEEDED_KEY))).first() is not None

    async def seed(self, pairs: list[tuple[str, str]], *, source: str) -> bool:
        """Add the shipped sample once per database, however many processes start at once; False if it was done before."""
        async with self._db.write() as conn:
            claimed = await conn.execute(
                self._db.insert(meta).values(key=SAMPLE_SEEDED_KEY, value=source).on_conflict_do_nothing().returning(meta.c.key)
            )
            if claimed.first() is None:
                return False  # another process (or an earlier start) seeded it
            if pairs:
                await _import(conn, pairs, [], actor_id=None, source=f"sample {source}")
        return True

    async def get(self, example_id: int) -> Example | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_COLUMNS).where(examples.c.id == example_id))).first()
        return Example(*row) if row else None

    async def all(self) -> list[Example]:
        """Oldest first."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(*_COLUMNS).order_by(examples.c.id))).all()
        return [Example(*row) for row in rows]

    async def find(self, search: str | None, *, offset: int, limit: int) -> tuple[list[Example], int]:
        """A page of examples whose question or answer contains `search` (any case), and how many match in all."""
        where = (
            or_(examples.c.question.icontains(search, autoescape=True), examples.c.answer.icontains(search, autoescape=True))
            if search
            else true()
        )
        async with self._db.read() as conn:
            total = (await conn.execute(select(func.count()).select_from(examples).where(where))).scalar_one()
            rows = (
                await conn.execute(select(*_COLUMNS).where(where).order_by(examples.c.id).limit(limit).offset(offset))
            ).all()
        return [Example(*row) for row in rows], total

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        """Newest first."""
        query = select(
            audit_log.c.at, audit_log.c.actor_id, audit_log.c.action, audit_log.c.example_id, audit_log.c.detail
        ).order_by(audit_log.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(*row) for row in rows]

    async def last_change(self) -> int:
        """The newest audit entry's ID: it changes whenever any process changes the examples."""
        async with self._db.read() as conn:
            return (await conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0)))).scalar_one()

    # -- embedding vectors ---------------------------------------------------------------

    async def cached_vectors(self, model: str) -> dict[int, tuple[str, bytes]]:
        query = select(example_vectors.c.example_id, example_vectors.c.fingerprint, example_vectors.c.vector).where(
            example_vectors.c.model == model
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {example_id: (fingerprint, vector) for example_id, fingerprint, vector in rows}

    async def save_vectors(self, model: str, vectors: list[tuple[int, str, bytes]]) -> None:
        if not vectors:
            return
        statement = self._db.insert(example_vectors)
        statement = statement.on_conflict_do_update(
            index_elements=[example_vectors.c.example_id, example_vectors.c.model],
            set_={"fingerprint": statement.excluded.fingerprint, "vector": statement.excluded.vector},
        )
        rows = [{"example_id": i, "model": model, "fingerprint": f, "vector": v} for i, f, v in vectors]
        async with self._db.write() as conn:
            await conn.execute(statement, rows)


async def _import(
    conn: AsyncConnection, new: list[tuple[str, str]], replaced: list[tuple[int, str]], *, actor_id: int | None, source: str
) -> None:
    now = utcnow()
    if new:
        added = await conn.execute(
            insert(examples).returning(examples.c.id, examples.c.question, sort_by_parameter_order=True),
            [{"question": q, "answer": a, "author_id": actor_id, "created_at": now} for q, a in new],
        )
        await conn.execute(
            insert(audit_log),
            [
                {"at": now, "actor_id": actor_id, "action": "import", "example_id": example_id, "detail": question}
                for example_id, question in added.all()
            ],
        )
    if replaced:
        await conn.execute(
            update(examples)
            .where(examples.c.id == bindparam("example_id"))
            .values(answer=bindparam("new_answer"), author_id=actor_id, updated_at=now),
            [{"example_id": example_id, "new_answer": answer} for example_id, answer in replaced],
        )
        await conn.execute(
            insert(audit_log),
            [
                {"at": now, "actor_id": actor_id, "action": "import-replace", "example_id": example_id, "detail": answer}
                for example_id, answer in replaced
            ],
        )
    await _audit(conn, actor_id, "import-file", None, f"{source}: {len(new)} added, {len(replaced)} replaced")


async def _audit(conn: AsyncConnection, actor_id: int | None, action: str, example_id: int | None, detail: str) -> None:
    await conn.execute(
        insert(audit_log).values(at=utcnow(), actor_id=actor_id, action=action, example_id=example_id, detail=detail)
    )
