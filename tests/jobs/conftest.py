"""Job tests use the database queue (the test settings run jobs at once otherwise)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.management import call_command

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


@pytest.fixture
def queue(settings, transactional_db) -> None:
    """Queue jobs in the catalog, as in production; the worker commits as it goes."""
    settings.TASKS = DATABASE_QUEUE
    settings.QUIRE_JOB_RETRY_SECONDS = 0.0


@pytest.fixture
def run_due_jobs(queue) -> Callable[[], None]:
    """Run the jobs that are due now in this process (run_jobs --batch), then return."""

    def run() -> None:
        call_command("run_jobs", "--batch", "--interval", "0")

    return run
