"""System checks for the job settings (no database access)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

QUEUE_NAME_MAX = 32  # django-tasks-db's queue_name column


@register("jobs")
def check_job_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report job settings the worker could not run with."""
    errors: list[CheckMessage] = []
    node = settings.QUIRE_NODE_ID
    if not node or len(node) > QUEUE_NAME_MAX:
        errors.append(
            Error(
                f"QUIRE_NODE_ID is {node!r}; it names this node's job queue, so it must be "
                f"1 to {QUEUE_NAME_MAX} characters.",
                id="jobs.E001",
            )
        )
    for name in ("QUIRE_JOB_MAX_ATTEMPTS", "QUIRE_JOB_LEASE_SECONDS"):
        if getattr(settings, name) < 1:
            errors.append(
                Error(f"{name} is {getattr(settings, name)!r}; use 1 or more.", id="jobs.E002")
            )
    if settings.QUIRE_JOB_RETRY_SECONDS < 0:
        errors.append(
            Error(
                f"QUIRE_JOB_RETRY_SECONDS is {settings.QUIRE_JOB_RETRY_SECONDS!r}; use 0 or more.",
                id="jobs.E003",
            )
        )
    return errors
