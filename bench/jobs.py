"""The job queue: what queueing costs a write, how fast a worker drains it, how soon a job runs.

    .venv/bin/python bench/jobs.py [--workspaces 50] [--jobs 500] [--rounds 5]

1. Queueing cost: the product's own write (``posts.services.post_create``) alone, and the
   same write plus one queued e-mail (``mail_enqueue``, written to the catalog after the
   workspace's commit), in interleaved rounds; medians and their ratio.
2. Drain: ``--jobs`` e-mails spread over ``--workspaces`` workspaces, run by one worker in
   this process (``run_jobs --batch``, locmem e-mail backend): jobs a second and CPU ms a job
   (on a busy machine, trust the CPU figures).
3. Latency: a ``run_jobs --interval 0.1`` worker process; 50 e-mails queued one at a time;
   from queued to finished (the catalog's own timestamps), p50 and p95.

Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from common import ROOT, emit, fast_password_hashing, percentile, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["DJANGO_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    work_dir = setup_django("jobs")
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.models import Tenant

    with fast_password_hashing():
        for n in range(args.workspaces):
            slug = f"w{n:04d}"
            tenant_create(slug=slug, name=slug, admin_email=f"a@{slug}.example", admin_password="p")
    tenants = list(Tenant.objects.order_by("slug"))
    measure_queueing(tenants[0], args.rounds)
    measure_drain(tenants, args.jobs)
    measure_latency(tenants[0], work_dir)
    print(f"# work folder: {work_dir}")


def measure_queueing(tenant, rounds: int) -> None:
    from django_tasks_db.models import DBTaskResult

    from apps.accounts.models import User
    from apps.core.mail import mail_enqueue
    from apps.posts.services import post_create
    from apps.tenancy.routing.context import tenant_context
    from apps.tenancy.routing.work import atomic

    with tenant_context(tenant):
        author = User.objects.get()

        def write() -> None:
            post_create(author=author, title="t", body="b", tags=["x"])

        def write_and_queue() -> None:
            with atomic():
                post_create(author=author, title="t", body="b", tags=["x"])
                mail_enqueue(subject="New post", body="b" * 500, to=["a@example.com"])

        alone: dict[str, list[float]] = {"wall": [], "cpu": []}
        queued: dict[str, list[float]] = {"wall": [], "cpu": []}
        for _round in range(rounds):
            for results, action in ((alone, write), (queued, write_and_queue)):
                for clock, seconds in timed(action, 200).items():
                    results[clock].append(statistics.median(seconds))
    DBTaskResult.objects.all().delete()
    record = {"bench": "jobs: queueing cost (medians of per-round medians)"}
    for clock in ("wall", "cpu"):
        ratios = [q / a for q, a in zip(queued[clock], alone[clock], strict=True)]
        record[f"write_{clock}_ms"] = round(statistics.median(alone[clock]) * 1000, 3)
        record[f"write_plus_email_{clock}_ms"] = round(statistics.median(queued[clock]) * 1000, 3)
        record[f"{clock}_ratio"] = round(statistics.median(ratios), 3)
    emit(record)


def measure_drain(tenants, jobs: int) -> None:
    from django.core import mail
    from django.core.management import call_command

    from apps.core.mail import mail_enqueue
    from apps.tenancy.routing.context import tenant_context

    mail.outbox = []
    for n in range(jobs):
        with tenant_context(tenants[n % len(tenants)]):
            mail_enqueue(subject=f"Job {n}", body="b" * 500, to=["a@example.com"])
    wall, cpu = time.perf_counter(), time.process_time()
    call_command("run_jobs", "--batch", "--interval", "0", verbosity=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(mail.outbox) == jobs, f"{len(mail.outbox)} of {jobs} e-mails sent"
    emit(
        {
            "bench": "jobs: drain, one worker",
            "jobs": jobs,
            "workspaces": len(tenants),
            "jobs_per_s": round(jobs / wall, 1),
            "cpu_ms_per_job": round(cpu / jobs * 1000, 2),
        }
    )


def measure_latency(tenant, work_dir) -> None:
    from django_tasks_db.models import DBTaskResult

    from apps.core.mail import mail_enqueue
    from apps.tenancy.routing.context import tenant_context

    DBTaskResult.objects.all().delete()
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs", "--interval", "0.1"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for n in range(50):
            with tenant_context(tenant):
                mail_enqueue(subject=f"Latency {n}", body="b", to=["a@example.com"])
            wait_for(lambda n=n: DBTaskResult.objects.successful().count() == n + 1)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    waits = [
        (job.finished_at - job.enqueued_at).total_seconds() * 1000
        for job in DBTaskResult.objects.successful()
    ]
    emit(
        {
            "bench": "jobs: queued to finished, worker polling every 0.1 s",
            "p50_ms": round(percentile(waits, 0.5), 1),
            "p95_ms": round(percentile(waits, 0.95), 1),
        }
    )


def timed(action, count: int) -> dict[str, list[float]]:
    """Time each call on the wall clock and in this process's CPU time."""
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {"wall": wall, "cpu": cpu}


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not finish the job in time")
        time.sleep(0.01)


if __name__ == "__main__":
    main()
