from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.jobs.worker import Worker, worker_id


class Command(BaseCommand):
    help = (
        "Run this node's background jobs (e-mails, notifications) from the catalog's queue, "
        "a workspace's job in that workspace's context (the deleted-workspace notice runs "
        "outside any, since its workspace is gone). A failed attempt is retried with backoff "
        "(QUIRE_JOB_MAX_ATTEMPTS, QUIRE_JOB_RETRY_SECONDS); a job whose worker died is run "
        "again after QUIRE_JOB_LEASE_SECONDS. SIGTERM or Ctrl-C finishes the running job, "
        "then stops. Run one or more per node, beside gunicorn."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds to wait, when nothing is due, before looking again (default: 1).",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run the jobs that are due now, then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] < 0:
            raise CommandError("--interval must be zero or more seconds.")
        worker = Worker(
            queue_names=[settings.QUIRE_NODE_ID],
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id(),
            excluded_queue_names=[],
        )
        if not options["batch"]:
            worker.configure_signals()
            self.stdout.write(f"Running the jobs of {settings.QUIRE_NODE_ID} ({worker.worker_id}).")
        worker.run()
