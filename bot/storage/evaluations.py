"""EvaluationStore: the questions models are evaluated on (held out by a run, or written by staff) and the reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select

from bot.records import EvalQuestion, utcnow
from bot.storage.database import Database
from bot.storage.schema import evaluations, examples, held_out_questions, test_questions


@dataclass(frozen=True)
class StoredEvaluation:
    id: int
    job_id: str | None
    model: str
    role: str
    created_at: datetime
    asked: int
    right: int
    confused: int
    off: int
    estimated_cost: float | None
    detail: list


_EVALUATION = (
    evaluations.c.id, evaluations.c.job_id, evaluations.c.model, evaluations.c.role, evaluations.c.created_at,
    evaluations.c.asked, evaluations.c.answered_right, evaluations.c.confused, evaluations.c.off,
    evaluations.c.estimated_cost, evaluations.c.detail,
)


def _stored(row) -> StoredEvaluation:
    return StoredEvaluation(*row[:-1], json.loads(row[-1]))


class EvaluationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- questions ---------------------------------------------------------------------

    async def save_held_out(self, run_id: str, questions: list[EvalQuestion]) -> None:
        if not questions:
            return
        async with self._db.write() as conn:
            await conn.execute(
                insert(held_out_questions),
                [{"run_id": run_id, "position": n, "question": q.question, "answer": q.answer} for n, q in enumerate(questions)],
            )

    async def held_out(self, run_id: str) -> list[EvalQuestion]:
        query = (
            select(held_out_questions.c.question, held_out_questions.c.answer)
            .where(held_out_questions.c.run_id == run_id)
            .order_by(held_out_questions.c.position)
        )
        async with self._db.read() as conn:
            return [EvalQuestion(*row) for row in (await conn.execute(query)).all()]

    async def add_test_question(self, question: str, example_id: int, *, author_id: int | None) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(
                insert(test_questions)
                .values(question=question, example_id=example_id, author_id=author_id, created_at=utcnow())
                .returning(test_questions.c.id)
            )
            return result.scalar_one()

    async def remove_test_question(self, test_id: int) -> bool:
        async with self._db.write() as conn:
            return (await conn.execute(delete(test_questions).where(test_questions.c.id == test_id))).rowcount > 0

    async def test_questions(self) -> list[EvalQuestion]:
        """Staff's test questions, each with the current answer of its example."""
        query = (
            select(test_questions.c.question, examples.c.answer)
            .join(examples, examples.c.id == test_questions.c.example_id)
            .order_by(test_questions.c.id)
        )
        async with self._db.read() as conn:
            return [EvalQuestion(*row) for row in (await conn.execute(query)).all()]

    # -- reports -----------------------------------------------------------------------

    async def save(
        self, *, job_id: str | None, model: str, role: str, requested_by: int | None, asked: int, right: int,
        confused: int, off: int, estimated_cost: float | None, detail: list,
    ) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(
                insert(evaluations)
                .values(
                    job_id=job_id, model=model, role=role, created_at=utcnow(), requested_by=requested_by, asked=asked,
                    answered_right=right, confused=confused, off=off, estimated_cost=estimated_cost,
                    detail=json.dumps(detail, ensure_ascii=False),
                )
                .returning(evaluations.c.id)
            )
            return result.scalar_one()

    async def latest(self, *, job_id: str | None = None) -> list[StoredEvaluation]:
        """The newest report (with a job: that job's newest candidate and live reports), newest first."""
        query = select(*_EVALUATION).order_by(evaluations.c.id.desc())
        query = query.where(evaluations.c.job_id == job_id).limit(2) if job_id else query.limit(1)
        async with self._db.read() as conn:
            return [_stored(row) for row in (await conn.execute(query)).all()]
