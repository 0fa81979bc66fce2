from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.jobs.selectors import failed_job_list, job_get, job_summary
from apps.jobs.services import JobNotRetryable, job_retry


class Command(BaseCommand):
    help = (
        "List the background jobs that failed every attempt (undelivered e-mails among "
        "them), the latest first: id, workspace, task, attempts, recipients, the last error. "
        "--retry ID queues one again now, with a fresh set of attempts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--retry", metavar="ID", help="Queue this failed job again.")
        parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")
        parser.add_argument(
            "--limit", type=int, default=100, help="Show at most this many (default: 100)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry"]:
            self._retry(options["retry"], as_json=options["json"])
            return
        if options["limit"] < 1:
            raise CommandError("--limit must be 1 or more.")
        summaries = [job_summary(job) for job in failed_job_list()[: options["limit"]]]
        if options["json"]:
            self.stdout.write(json.dumps([summary.as_json() for summary in summaries], indent=2))
            return
        if not summaries:
            self.stdout.write("No failed jobs.")
            return
        for summary in summaries:
            when = summary.finished_at.strftime("%Y-%m-%d %H:%M:%S") if summary.finished_at else ""
            to = f" to {', '.join(summary.recipients)}" if summary.recipients else ""
            self.stdout.write(
                f"{summary.id}  {when}  {summary.workspace or '-'}  {summary.task}{to}\n"
                f"    {summary.attempts} attempts; last error: {summary.error}"
            )

    def _retry(self, job_id: str, *, as_json: bool) -> None:
        job = job_get(job_id=job_id)
        if job is None:
            raise CommandError(f"No job with id {job_id!r}.")
        try:
            job_retry(job=job)
        except JobNotRetryable as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps({"retried": str(job.id)}))
        else:
            self.stdout.write(f"Job {job.id} queued again.")
