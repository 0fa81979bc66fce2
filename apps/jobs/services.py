"""Changing the job queue, for operators."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from apps.tenancy.exceptions import ApplicationError


class JobNotRetryable(ApplicationError):
    """Only a job that failed can be queued again by hand."""


def job_retry(*, job: DBTaskResult) -> None:
    """Queue a failed job again now, with a fresh set of attempts."""
    queued = DBTaskResult.objects.filter(pk=job.pk, status=TaskResultStatus.FAILED).update(
        status=TaskResultStatus.READY,
        run_after=timezone.now(),
        started_at=None,
        finished_at=None,
        worker_ids=[],
    )
    if queued != 1:
        raise JobNotRetryable(f"Job {job.id} has not failed (it is {job.status.lower()}).")
