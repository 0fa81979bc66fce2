"""Workspace jobs the tests queue: each leaves a trace in a file the test reads."""

from __future__ import annotations

import time
from pathlib import Path

from django_tasks import task

from apps.jobs.queue import workspace_task
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.work import atomic, commit_position, cursor


@workspace_task
def record(*, path: str) -> str:
    """Write a row into the workspace's file, then note which workspace the job ran in."""
    with atomic(), cursor() as sql:
        sql.execute("CREATE TABLE IF NOT EXISTS job_trace (note TEXT)")
        sql.execute("INSERT INTO job_trace VALUES ('ran')")
    slug = require_current_tenant().slug
    with Path(path).open("a") as trace:
        trace.write(f"{slug} {commit_position()}\n")
    return slug


@workspace_task
def flaky(*, path: str, failures: int) -> None:
    """Fail the first `failures` attempts, then succeed; every attempt leaves a line."""
    trace = Path(path)
    attempts = len(trace.read_text().splitlines()) + 1 if trace.exists() else 1
    trace.write_text("attempt\n" * attempts)
    if attempts <= failures:
        raise ConnectionError(f"attempt {attempts} of a flaky job")


@workspace_task
def hold(*, path: str, seconds: float) -> None:
    """Note the start, hold for a while on the first attempt (to be killed), note the end."""
    trace = Path(path)
    with trace.open("a") as lines:
        lines.write("started\n")
    if trace.read_text().count("started") == 1:
        time.sleep(seconds)
    with trace.open("a") as lines:
        lines.write("finished\n")


@task()
def plain() -> None:
    """A django-tasks task that is not a workspace job."""
