"""django-tasks' database worker, with retries, backoff and the recovery of orphaned jobs.

django-tasks runs a job once: a failure is final, and a job whose worker was killed
stays "running" for ever. This worker adds both:

- a failed attempt is queued again after ``QUIRE_JOB_RETRY_SECONDS`` doubled for each
  attempt before it, until ``QUIRE_JOB_MAX_ATTEMPTS``; then the job stays failed, for
  operators (``failed_jobs``);
- a job still running ``QUIRE_JOB_LEASE_SECONDS`` after it started belongs to a worker
  that died (kill -9, a lost machine): it is queued again, or failed once it used up
  its attempts (a job that kills its worker every time must not loop for ever).

Attempts are the job's ``worker_ids``: django-tasks adds one each time a worker claims it.
A job that succeeded keeps its workspace and outcome, not its arguments: an e-mail's body
holds invitation and password-reset links, which have no business waiting in the catalog.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker as DatabaseWorker
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

WORKER_LOST = "apps.jobs.worker.WorkerLost"
LONGEST_RETRY_SECONDS = 3600.0


def retry_delay(attempt: int) -> float:
    """Return the seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
    delay = settings.QUIRE_JOB_RETRY_SECONDS * 2 ** (attempt - 1)
    return float(min(delay, LONGEST_RETRY_SECONDS))


def worker_id() -> str:
    """Return a name for this worker, unique in the fleet, that says where it runs."""
    return f"{settings.QUIRE_NODE_ID}:{os.getpid()}:{get_random_string(6)}"[:64]


def job_schedule_retry(*, job: DBTaskResult) -> bool:
    """Queue a failed job again after its backoff; return False once it used its attempts."""
    attempts = len(job.worker_ids)
    if attempts >= settings.QUIRE_JOB_MAX_ATTEMPTS:
        logger.error(
            "Job %s (%s) failed %d times, the last with %s; it stays failed (failed_jobs).",
            job.id,
            job.task_path,
            attempts,
            job.exception_class_path,
        )
        return False
    delay = retry_delay(attempts)
    DBTaskResult.objects.filter(pk=job.pk, status=TaskResultStatus.FAILED).update(
        status=TaskResultStatus.READY,
        run_after=timezone.now() + timedelta(seconds=delay),
        finished_at=None,
    )
    logger.warning(
        "Job %s (%s) failed (attempt %d of %d, %s); next attempt in %.0f s.",
        job.id,
        job.task_path,
        attempts,
        settings.QUIRE_JOB_MAX_ATTEMPTS,
        job.exception_class_path,
        delay,
    )
    return True


def job_forget_arguments(*, job: DBTaskResult) -> None:
    """Keep a finished job's workspace but not its arguments (an e-mail's links sign in)."""
    args = job.args_kwargs.get("args", [])
    DBTaskResult.objects.filter(pk=job.pk, status=TaskResultStatus.SUCCESSFUL).update(
        args_kwargs={"args": args, "kwargs": {}}
    )


def jobs_reclaim(*, queue_names: list[str]) -> int:
    """Queue again the jobs of these queues whose worker died while running them."""
    cutoff = timezone.now() - timedelta(seconds=settings.QUIRE_JOB_LEASE_SECONDS)
    stale = DBTaskResult.objects.running().filter(queue_name__in=queue_names, started_at__lt=cutoff)
    reclaimed = 0
    for job in stale:
        reclaimed += _reclaim(job)
    return reclaimed


def _reclaim(job: DBTaskResult) -> int:
    # Compare-and-set on started_at: a job claimed again meanwhile is left alone.
    same_claim = DBTaskResult.objects.filter(
        pk=job.pk, status=TaskResultStatus.RUNNING, started_at=job.started_at
    )
    attempts = len(job.worker_ids)
    if attempts >= settings.QUIRE_JOB_MAX_ATTEMPTS:
        changed = same_claim.update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path=WORKER_LOST,
            traceback=f"The worker running this job stopped without finishing it, "
            f"{attempts} times (last: {job.worker_ids[-1] if job.worker_ids else '?'}).",
        )
        logger.error(
            "Job %s (%s) lost its worker %d times: failed.", job.id, job.task_path, attempts
        )
        return changed
    changed = same_claim.update(status=TaskResultStatus.READY, run_after=timezone.now())
    logger.warning(
        "Job %s (%s) was running on %s, which stopped: queued again.",
        job.id,
        job.task_path,
        job.worker_ids[-1] if job.worker_ids else "?",
    )
    return changed


class Worker(DatabaseWorker):
    """Run this node's jobs; retry failures with backoff; recover orphaned jobs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stopped = threading.Event()

    def run(self) -> None:
        self.reclaim()
        if not self.batch:
            threading.Thread(target=self._watch, name="jobs-reclaim", daemon=True).start()
        try:
            super().run()
        finally:
            self._stopped.set()

    def run_task(self, db_task_result: DBTaskResult) -> None:
        super().run_task(db_task_result)
        if db_task_result.status == TaskResultStatus.FAILED:
            job_schedule_retry(job=db_task_result)
        elif db_task_result.status == TaskResultStatus.SUCCESSFUL:
            job_forget_arguments(job=db_task_result)

    def reclaim(self) -> None:
        """Queue again this node's jobs whose worker died; a locked catalog waits a turn."""
        try:
            jobs_reclaim(queue_names=self.queue_names)
        except OperationalError as exc:
            logger.warning("Could not look for orphaned jobs this time: %s", exc)

    def _watch(self) -> None:
        period = max(0.1, min(30.0, settings.QUIRE_JOB_LEASE_SECONDS / 4))
        while not self._stopped.wait(period):
            close_old_connections()
            self.reclaim()
