"""Reading the job queue, for operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_tasks_db.models import DBTaskResult


@dataclass(frozen=True)
class JobSummary:
    """A job as an operator sees it: no e-mail bodies, no links (they may hold tokens)."""

    id: str
    task: str
    status: str
    workspace: str
    attempts: int
    enqueued_at: datetime
    finished_at: datetime | None
    error: str
    recipients: list[str]
    subject: str

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "enqueued_at": self.enqueued_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def failed_job_list() -> QuerySet[DBTaskResult]:
    """Return the jobs that used up their attempts, the latest failure first."""
    return DBTaskResult.objects.failed().order_by("-finished_at")


def job_get(*, job_id: str) -> DBTaskResult | None:
    """Return the job with this id (a UUID, dashes optional), or None."""
    try:
        return DBTaskResult.objects.filter(pk=job_id).first()
    except ValidationError:  # not a UUID
        return None


def job_summary(job: DBTaskResult) -> JobSummary:
    """Return what an operator needs to know about a job."""
    args, kwargs = job.args_kwargs.get("args", []), job.args_kwargs.get("kwargs", {})
    workspace = args[0].get("slug", "") if args and isinstance(args[0], dict) else ""
    recipients = kwargs.get("to", [])
    return JobSummary(
        id=str(job.id),
        task=job.task_path,
        status=job.status,
        workspace=workspace,
        attempts=len(job.worker_ids),
        enqueued_at=job.enqueued_at,
        finished_at=job.finished_at,
        error=_last_line(job.traceback) or job.exception_class_path,
        recipients=[str(address) for address in recipients] if isinstance(recipients, list) else [],
        subject=str(kwargs.get("subject", "")),
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
