"""The job worker as a real process: killed with SIGKILL mid-job, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.conftest import PASSWORD, Quire, kill_group, wait_until

JOBS_TABLE = "django_tasks_database_dbtaskresult"


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Quire]:
    """A migrated installation with workspace acme; a running job's lease is 2 s."""
    quire = Quire(tmp_path, QUIRE_JOB_LEASE_SECONDS="2", QUIRE_JOB_RETRY_SECONDS="0")
    try:
        quire.manage("migrate", "--no-input")
        quire.manage(
            "create_tenant", "acme", "--name", "Acme", "--admin-email", "boss@acme.example",
            "--admin-password", PASSWORD,
        )  # fmt: skip
        yield quire
    finally:
        quire.stop()


def enqueue_hold(quire: Quire, trace: Path, seconds: float) -> None:
    """Queue tests.jobs.tasks.hold for acme, as product code does."""
    quire.manage(
        "shell",
        "-c",
        "from apps.jobs.queue import job_enqueue\n"
        "from apps.tenancy.routing.context import tenant_context\n"
        "from apps.tenancy.fleet.selectors import tenant_get\n"
        "from tests.jobs import tasks\n"
        "with tenant_context(tenant_get(slug='acme')):\n"
        f"    job_enqueue(tasks.hold, path={str(trace)!r}, seconds={seconds})\n",
    )


def start_worker(quire: Quire) -> subprocess.Popen[str]:
    return quire.start("manage.py", "run_jobs", "--interval", "0.1")


def job_state(quire: Quire) -> tuple[str, str]:
    ((status, worker_ids),) = quire.catalog(f"SELECT status, worker_ids FROM {JOBS_TABLE}")
    return status, worker_ids


def test_a_job_running_when_its_worker_is_killed_runs_again_on_the_next_worker(
    installation: Quire, tmp_path: Path
):
    trace = tmp_path / "trace"
    enqueue_hold(installation, trace, seconds=600)
    first = start_worker(installation)
    try:
        wait_until(lambda: trace.exists(), what="the job to start")
    finally:
        kill_group(first)  # SIGKILL: no chance to mark the job
    assert first.returncode == -signal.SIGKILL
    assert job_state(installation)[0] == "RUNNING"
    second = start_worker(installation)
    try:
        wait_until(lambda: job_state(installation)[0] == "SUCCESSFUL", what="the job to finish")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.stderr.read() if second.stderr else ""
    assert trace.read_text().split() == ["started", "started", "finished"]
    assert job_state(installation)[1].count("node-1:") == 2, "claimed by both workers"


def test_sigterm_lets_the_running_job_finish_then_stops_the_worker(
    installation: Quire, tmp_path: Path
):
    trace = tmp_path / "trace"
    enqueue_hold(installation, trace, seconds=2)
    worker = start_worker(installation)
    try:
        wait_until(lambda: trace.exists(), what="the job to start")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        installation.stop()
    assert trace.read_text().split() == ["started", "finished"]
    assert job_state(installation)[0] == "SUCCESSFUL"


def test_jobs_run_with_the_catalog_on_postgresql(tmp_path: Path):
    import psycopg

    from tests.replication.postgres import postgres_cluster

    with postgres_cluster() as url:
        quire = Quire(tmp_path, DATABASE_URL=url, QUIRE_JOB_RETRY_SECONDS="0")
        quire.manage("migrate", "--no-input")
        quire.manage(
            "create_tenant", "acme", "--name", "Acme", "--admin-email", "boss@acme.example",
            "--admin-password", PASSWORD,
        )  # fmt: skip
        quire.manage(
            "shell",
            "-c",
            "from apps.core.mail import mail_enqueue\n"
            "from apps.jobs.queue import job_enqueue\n"
            "from apps.tenancy.routing.context import tenant_context\n"
            "from apps.tenancy.fleet.selectors import tenant_get\n"
            "from tests.jobs import tasks\n"
            "with tenant_context(tenant_get(slug='acme')):\n"
            f"    job_enqueue(tasks.flaky, path={str(tmp_path / 'trace')!r}, failures=1)\n"
            "    mail_enqueue(subject='Hello', body='From the queue', to=['x@acme.example'])\n",
        )
        ran = quire.manage("run_jobs", "--batch", "--interval", "0")
        with psycopg.connect(url) as catalog:
            rows = catalog.execute(
                f"SELECT task_path, status, jsonb_array_length(worker_ids) FROM {JOBS_TABLE} "
                "ORDER BY task_path"
            ).fetchall()
    assert rows == [
        ("apps.core.mail.email_send", "SUCCESSFUL", 1),
        ("tests.jobs.tasks.flaky", "SUCCESSFUL", 2),
    ]
    assert "Subject: Hello" in ran.stdout and "To: x@acme.example" in ran.stdout
