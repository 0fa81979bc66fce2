"""Workspace jobs through the catalog's queue: queued on commit, run in their workspace."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from apps.jobs.queue import job_enqueue
from apps.tenancy.exceptions import NoActiveTenant
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.work import atomic
from tests.conftest import admin_email, host
from tests.jobs import tasks

CLOSED_SMTP = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": 9}  # nothing listens there


def only_job() -> DBTaskResult:
    return DBTaskResult.objects.get()


def test_a_job_is_queued_when_the_workspace_commits_and_never_on_rollback(
    queue, make_tenant, tmp_path
):
    acme = make_tenant("acme")
    trace = str(tmp_path / "trace")
    with tenant_context(acme):
        with atomic():
            job_enqueue(tasks.record, path=trace)
            assert not DBTaskResult.objects.exists(), "queued before the commit"
        assert DBTaskResult.objects.count() == 1
        with pytest.raises(RuntimeError), atomic():
            job_enqueue(tasks.record, path=trace)
            raise RuntimeError("the write fails")
    assert DBTaskResult.objects.count() == 1, "a rolled back unit of work queued a job"
    job = only_job()
    assert job.args_kwargs["args"] == [{"id": acme.pk, "slug": "acme"}]
    assert job.queue_name == "node-1"


def test_a_job_runs_inside_its_own_workspace(run_due_jobs, make_tenant, tmp_path):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    trace = tmp_path / "trace"
    for tenant in (acme, beta):
        with tenant_context(tenant):
            job_enqueue(tasks.record, path=str(trace))
    run_due_jobs()
    assert sorted(line.split()[0] for line in trace.read_text().splitlines()) == ["acme", "beta"]
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
    with tenant_context(acme), atomic():
        from apps.tenancy.routing.work import cursor

        with cursor() as sql:
            sql.execute("SELECT count(*) FROM job_trace")
            assert sql.fetchone()[0] == 1, "the job wrote to its own workspace's file"


def test_only_workspace_jobs_for_the_current_workspace_are_queued(queue, make_tenant):
    from apps.core.mail import email_send

    with pytest.raises(NoActiveTenant):
        job_enqueue(email_send, subject="s", body="b", to=["a@example.com"])
    with tenant_context(make_tenant("acme")):
        with pytest.raises(TypeError, match="is not a @workspace_task"):
            job_enqueue(tasks.plain)
        with pytest.raises(TypeError, match="not JSON serializable"):
            job_enqueue(email_send, subject=object(), body="b", to=[])
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize("change", ["delete", "suspend", "purge"])
def test_a_job_for_a_gone_or_suspended_workspace_is_dropped_with_a_log_line(
    run_due_jobs, make_tenant, tmp_path, caplog, change
):
    from apps.tenancy.fleet.services import tenant_delete, tenant_suspend

    acme = make_tenant("acme")
    trace = tmp_path / "trace"
    with tenant_context(acme):
        job_enqueue(tasks.record, path=str(trace))
    if change == "suspend":
        tenant_suspend(tenant=acme)
    elif change == "delete":
        tenant_delete(tenant=acme)
    else:
        tenant_delete(tenant=acme, hard=True)
        Tenant.objects.filter(pk=acme.pk).delete()
    with caplog.at_level(logging.WARNING, logger="apps.jobs.queue"):
        run_due_jobs()
    job = only_job()
    assert job.status == TaskResultStatus.SUCCESSFUL
    assert "dropped" in job.return_value
    assert not trace.exists()
    assert re.search(r"Job \S+ for workspace acme dropped: the workspace", caplog.text)


def test_a_renamed_workspace_gets_its_jobs(run_due_jobs, make_tenant, tmp_path):
    from apps.tenancy.fleet.services import tenant_rename

    acme = make_tenant("acme")
    trace = tmp_path / "trace"
    with tenant_context(acme):
        job_enqueue(tasks.record, path=str(trace))
    tenant_rename(tenant=acme, new_slug="apex")
    run_due_jobs()
    assert trace.read_text().split()[0] == "apex"


def test_a_job_for_a_workspace_moved_to_another_node_is_sent_on_there(
    run_due_jobs, make_tenant, tmp_path
):
    acme = make_tenant("acme")
    with tenant_context(acme):
        job_enqueue(tasks.record, path=str(tmp_path / "trace"))
    Tenant.objects.filter(pk=acme.pk).update(home_node="node-2")
    run_due_jobs()
    first, second = DBTaskResult.objects.order_by("enqueued_at")
    assert first.status == TaskResultStatus.SUCCESSFUL
    assert first.return_value == {"rerouted": "node-2"}
    assert (second.status, second.queue_name) == (TaskResultStatus.READY, "node-2")
    assert second.args_kwargs == {
        "args": [{"id": acme.pk, "slug": "acme"}],
        "kwargs": {"path": str(tmp_path / "trace")},
    }
    assert not (tmp_path / "trace").exists(), "node-1 ran a job of node-2's workspace"


def test_a_workspace_briefly_unavailable_gets_its_job_later(
    run_due_jobs, make_tenant, tmp_path, settings
):
    settings.QUIRE_JOB_RETRY_SECONDS = 30.0
    acme = make_tenant("acme")
    with tenant_context(acme):
        job_enqueue(tasks.record, path=str(tmp_path / "trace"))
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.MAINTENANCE)
    run_due_jobs()
    job = only_job()
    assert job.status == TaskResultStatus.READY
    assert job.exception_class_path == "apps.jobs.queue.WorkspaceUnavailable"
    assert job.run_after > timezone.now() + timedelta(seconds=25)
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.ACTIVE)
    DBTaskResult.objects.update(run_after=timezone.now())
    run_due_jobs()
    assert only_job().status == TaskResultStatus.SUCCESSFUL
    assert (tmp_path / "trace").read_text().startswith("acme ")


def test_a_failing_job_is_retried_until_it_succeeds(run_due_jobs, make_tenant, tmp_path):
    trace = tmp_path / "trace"
    with tenant_context(make_tenant("acme")):
        job_enqueue(tasks.flaky, path=str(trace), failures=2)
    for _ in range(3):
        run_due_jobs()
    job = only_job()
    assert job.status == TaskResultStatus.SUCCESSFUL
    assert len(job.worker_ids) == 3
    assert trace.read_text().count("attempt") == 3


def test_retries_back_off_doubling_the_wait(run_due_jobs, make_tenant, tmp_path, settings):
    from apps.jobs.worker import retry_delay

    settings.QUIRE_JOB_RETRY_SECONDS = 10.0
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]
    with tenant_context(make_tenant("acme")):
        job_enqueue(tasks.flaky, path=str(tmp_path / "trace"), failures=5)
    waits = []
    for _ in range(3):
        run_due_jobs()
        job = only_job()
        assert job.status == TaskResultStatus.READY
        waits.append((job.run_after - timezone.now()).total_seconds())
        DBTaskResult.objects.update(run_after=timezone.now())  # due now, for the next round
    assert 8 < waits[0] <= 10 and 18 < waits[1] <= 20 and 38 < waits[2] <= 40


def test_a_job_that_keeps_failing_is_marked_failed_and_shown_to_operators(
    run_due_jobs, make_tenant, tmp_path, settings, capsys
):
    settings.QUIRE_JOB_MAX_ATTEMPTS = 3
    with tenant_context(make_tenant("acme")):
        job_enqueue(tasks.flaky, path=str(tmp_path / "trace"), failures=10)
    for _ in range(5):
        run_due_jobs()
    job = only_job()
    assert job.status == TaskResultStatus.FAILED
    assert len(job.worker_ids) == 3
    call_command("failed_jobs")
    listing = capsys.readouterr().out
    assert str(job.id) in listing
    assert "acme  tests.jobs.tasks.flaky" in listing
    assert "3 attempts; last error: ConnectionError: attempt 3 of a flaky job" in listing
    call_command("failed_jobs", "--json")
    (shown,) = json.loads(capsys.readouterr().out)
    assert (shown["workspace"], shown["attempts"], shown["status"]) == ("acme", 3, "FAILED")


def test_an_operator_retries_a_failed_job(run_due_jobs, make_tenant, tmp_path, settings, capsys):
    settings.QUIRE_JOB_MAX_ATTEMPTS = 1
    with tenant_context(make_tenant("acme")):
        job_enqueue(tasks.flaky, path=str(tmp_path / "trace"), failures=1)
    run_due_jobs()
    job = only_job()
    assert job.status == TaskResultStatus.FAILED
    call_command("failed_jobs", "--retry", str(job.id))
    assert "queued again" in capsys.readouterr().out
    run_due_jobs()
    assert only_job().status == TaskResultStatus.SUCCESSFUL
    call_command("failed_jobs")
    assert capsys.readouterr().out.strip() == "No failed jobs."
    with pytest.raises(CommandError, match="has not failed"):
        call_command("failed_jobs", "--retry", str(job.id))
    with pytest.raises(CommandError, match="No job with id 'nonsense'"):
        call_command("failed_jobs", "--retry", "nonsense")


def test_a_job_whose_worker_died_runs_again_after_the_lease(
    run_due_jobs, make_tenant, tmp_path, settings
):
    settings.QUIRE_JOB_LEASE_SECONDS = 60
    settings.QUIRE_JOB_MAX_ATTEMPTS = 2
    trace = tmp_path / "trace"
    with tenant_context(make_tenant("acme")):
        job_enqueue(tasks.record, path=str(trace))
        job_enqueue(tasks.record, path=str(trace))
    young, old = DBTaskResult.objects.order_by("enqueued_at")
    now = timezone.now()
    # As a worker killed mid-job leaves them: running, claimed once (young) or twice (old).
    DBTaskResult.objects.filter(pk=young.pk).update(
        status="RUNNING", started_at=now - timedelta(seconds=30), worker_ids=["dead:1"]
    )
    run_due_jobs()
    assert DBTaskResult.objects.get(pk=young.pk).status == "RUNNING", "reclaimed within lease"
    DBTaskResult.objects.filter(pk=young.pk).update(started_at=now - timedelta(seconds=61))
    DBTaskResult.objects.filter(pk=old.pk).update(
        status="RUNNING", started_at=now - timedelta(seconds=61), worker_ids=["dead:1", "dead:2"]
    )
    run_due_jobs()
    young, old = DBTaskResult.objects.get(pk=young.pk), DBTaskResult.objects.get(pk=old.pk)
    assert young.status == TaskResultStatus.SUCCESSFUL
    assert len(young.worker_ids) == 2
    assert old.status == TaskResultStatus.FAILED
    assert old.exception_class_path == "apps.jobs.worker.WorkerLost"
    assert "stopped without finishing it, 2 times" in old.traceback


# E-mails ------------------------------------------------------------------------------


def test_an_invitation_queues_its_email_and_the_page_does_not_wait(
    queue, client, make_tenant, sign_in, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = CLOSED_SMTP.values()
    acme = make_tenant("acme")
    sign_in(client, acme)
    form = {"email": "new@acme.example", "role": "member"}
    response = client.post("/members/", form, HTTP_HOST=host("acme"), follow=True)
    assert response.status_code == 200
    assert b"is on its way" in response.content
    job = only_job()
    assert job.task_path == "apps.core.mail.email_send"
    assert job.args_kwargs["kwargs"]["to"] == ["new@acme.example"]
    assert job.status == TaskResultStatus.READY


def test_an_email_the_server_refuses_is_retried_then_failed_then_resent_by_an_operator(
    run_due_jobs, client, make_tenant, sign_in, settings, capsys
):
    settings.QUIRE_JOB_MAX_ATTEMPTS = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = CLOSED_SMTP.values()
    acme = make_tenant("acme")
    sign_in(client, acme)
    client.post(
        "/members/", {"email": "new@acme.example", "role": "member"}, HTTP_HOST=host("acme")
    )
    run_due_jobs()  # no wait between attempts here: both run now
    job = only_job()
    assert job.status == TaskResultStatus.FAILED
    assert len(job.worker_ids) == 2, "the first failure was retried"
    call_command("failed_jobs")
    listing = capsys.readouterr().out
    assert "acme  apps.core.mail.email_send to new@acme.example" in listing
    assert "ConnectionRefusedError" in listing
    assert "/invitation/" not in listing, "operators' listing shows no invitation link"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("failed_jobs", "--retry", str(job.id))
    run_due_jobs()
    assert [message.to for message in mail.outbox] == [["new@acme.example"]]
    path = re.search(r"http://acme\.quire\.test(/invitation/[^/]+/)", mail.outbox[0].body)
    assert Client().get(path.group(1), HTTP_HOST=host("acme")).status_code == 200


def test_a_password_reset_email_goes_through_the_queue(run_due_jobs, make_tenant):
    make_tenant("acme")
    response = Client().post(
        "/password-reset/", {"email": admin_email("acme")}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 302
    assert not mail.outbox
    run_due_jobs()
    assert only_job().args_kwargs["kwargs"] == {}, "the reset link stays in the queue"
    (message,) = mail.outbox
    assert message.to == [admin_email("acme")]
    assert "\n" not in message.subject
    link = re.search(r"http://acme\.quire\.test(/reset/\S+)", message.body).group(1)
    assert Client().get(link, HTTP_HOST=host("acme"), follow=True).status_code == 200


def test_the_queue_is_not_in_a_workspace_admin_site(queue, client, make_tenant, sign_in):
    acme = make_tenant("acme")
    sign_in(client, acme)
    page = client.get("/admin/", HTTP_HOST=host("acme"))
    assert page.status_code == 200
    assert b"Task Results" not in page.content
    assert b"Users" in page.content
    missing = client.get("/admin/django_tasks_database/dbtaskresult/", HTTP_HOST=host("acme"))
    assert missing.status_code == 404
