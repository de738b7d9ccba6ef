"""JobStore: fine-tuning jobs followed to the end, and which support model is live (with its history)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update

from bot.records import FINISHED_STATUSES, SupportModelChange, TrainingJob, utcnow
from bot.storage.database import Database
from bot.storage.schema import support_models, training_jobs as jobs

# Support asks for the live model on every answer. Kept this long, a change another process
# makes (a second shard's /model use) is seen within that time; this process's own at once.
LIVE_MODEL_SECONDS = 5.0
_JOB = tuple(jobs.c)
# A run recorded before its job is created: the row carries this status and a stand-in ID until the
# provider's job is known (see TrainingService: a job is never created without a row to find it by).
STARTING = "starting"
# A succeeded job's model: evaluated first ("pending"), then made live, left for an admin to decide, or kept out.
PENDING, PROMOTED, AWAITING, KEPT = "pending", "promoted", "awaiting", "kept"


def pending_id(run_id: str) -> str:
    return f"run-{run_id}"


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._live_model: tuple[str | None, float] | None = None  # (model, when read)

    # -- the live support model ------------------------------------------------------

    async def live_model(self) -> str | None:
        """The model most recently made live, or None when none ever was."""
        if self._live_model is None or time.monotonic() - self._live_model[1] > LIVE_MODEL_SECONDS:
            query = select(support_models.c.model).order_by(support_models.c.id.desc()).limit(1)
            async with self._db.read() as conn:
                model = (await conn.execute(query)).scalar()
            self._live_model = (model, time.monotonic())
        return self._live_model[0]

    async def set_live_model(self, model: str, *, by: str | None, reason: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(insert(support_models).values(model=model, activated_at=utcnow(), activated_by=by, reason=reason))
        self._live_model = (model, time.monotonic())

    async def model_history(self, limit: int = 10) -> list[SupportModelChange]:
        """Newest first."""
        query = (
            select(support_models.c.model, support_models.c.activated_at, support_models.c.activated_by, support_models.c.reason)
            .order_by(support_models.c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [SupportModelChange(*row) for row in rows]

    # -- fine-tuning jobs --------------------------------------------------------------

    async def add(
        self, *, job_id: str, run_id: str, base_model: str, training_file: str, started_by: int,
        channel_id: int | None, status: str, validation_file: str | None = None,
    ) -> None:
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                insert(jobs).values(
                    id=job_id, run_id=run_id, base_model=base_model, training_file=training_file, started_by=started_by,
                    channel_id=channel_id, status=status, created_at=now, updated_at=now, validation_file=validation_file,
                )
            )

    async def add_pending(
        self, *, run_id: str, base_model: str, training_file: str, started_by: int, channel_id: int | None,
        validation_file: str | None = None,
    ) -> None:
        """Record a run about to create its job, so a job the provider starts is never lost."""
        await self.add(
            job_id=pending_id(run_id), run_id=run_id, base_model=base_model, training_file=training_file,
            started_by=started_by, channel_id=channel_id, status=STARTING, validation_file=validation_file,
        )

    async def attach(self, run_id: str, *, job_id: str, status: str) -> bool:
        """Give a pending run its provider job; False when it was attached (or given up) already."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.run_id == run_id, jobs.c.status == STARTING)
                .values(id=job_id, status=status, updated_at=utcnow())
            )
        return result.rowcount > 0

    async def discard_pending(self, run_id: str) -> None:
        """Forget a run whose job the provider refused to create."""
        async with self._db.write() as conn:
            await conn.execute(delete(jobs).where(jobs.c.run_id == run_id, jobs.c.status == STARTING))

    async def give_up_pending(self, run_id: str, *, error: str) -> None:
        """A run the provider has no job for: finished as failed, and not announced (nothing was started)."""
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.run_id == run_id, jobs.c.status == STARTING)
                .values(status="failed", reported_status="failed", error=error, finished_at=now, updated_at=now)
            )

    async def get(self, job_id: str | None = None) -> TrainingJob | None:
        """The job with that ID, or the latest one when no ID is given."""
        query = select(*_JOB)
        if job_id is None:
            query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(1)
        else:
            query = query.where(jobs.c.id == job_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return TrainingJob(*row) if row else None

    async def to_follow(self) -> list[TrainingJob]:
        """Jobs still running, and finished ones whose final status was not yet reported."""
        query = (
            select(*_JOB)
            .where(or_(jobs.c.status.not_in(FINISHED_STATUSES), jobs.c.reported_status.is_distinct_from(jobs.c.status)))
            .order_by(jobs.c.created_at)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [TrainingJob(*row) for row in rows]

    async def update(
        self, job_id: str, *, was: str, status: str, fine_tuned_model: str | None, error: str | None,
        trained_tokens: int | None, finished_at: datetime | None,
    ) -> bool:
        """Record a job's new state if it is still `was`; a success's model waits for evaluation ("pending").

        False when someone else (another command, another process) recorded a change first: the
        caller must not announce again.
        """
        values = dict(
            status=status, fine_tuned_model=fine_tuned_model, error=error, trained_tokens=trained_tokens,
            finished_at=finished_at, updated_at=utcnow(),
        )
        if status == "succeeded" and fine_tuned_model:
            values["promotion"] = PENDING
        async with self._db.write() as conn:
            result = await conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.status == was).values(**values))
        return result.rowcount > 0

    async def begin_evaluation(self, job_id: str) -> int:
        """Count one more evaluation of a job's model, before it starts (a crash mid-way counts too); the count."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(evaluation_attempts=jobs.c.evaluation_attempts + 1)
                .returning(jobs.c.evaluation_attempts)
            )
            return result.scalar_one()

    async def settle(self, job_id: str, outcome: str, *, was: tuple[str, ...], by: str | None, reason: str) -> bool:
        """Move a succeeded job's promotion from one of `was` to `outcome`; promoting makes its model live, once.

        False when the promotion was settled already (another process, a second click): nothing changes.
        """
        async with self._db.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.promotion.in_(was))
                .values(promotion=outcome, updated_at=utcnow())
                .returning(jobs.c.fine_tuned_model)
            )
            model = result.scalar()
            if model is None:
                return False
            if outcome == PROMOTED:
                await conn.execute(
                    insert(support_models).values(model=model, activated_at=utcnow(), activated_by=by, reason=reason)
                )
        if outcome == PROMOTED:
            self._live_model = (model, time.monotonic())
        return True

    async def mark_reported(self, job_id: str, status: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(update(jobs).where(jobs.c.id == job_id).values(reported_status=status))

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[bool]:
        """Whether this process may follow jobs now: one process at a time, so each change is posted once."""
        async with self._db.exclusive("training-job-follower") as held:
            yield held
