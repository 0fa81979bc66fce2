"""Jobs that belong to a workspace: queued when its unit of work commits, run in its context.

The queue is the catalog's (django-tasks' database backend): one queue for the fleet,
so a worker polls one table instead of every workspace file. Each job carries its
workspace's id (and slug, for people reading the queue) and waits in the queue named
after the workspace's home node, where its file is. The worker looks the workspace up
again when the job runs: a renamed workspace is found by its id, a deleted or suspended
one drops the job with a log line, one being renamed, restored or moved retries later,
and one now homed on another node has the job sent to that node's queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from django.conf import settings
from django_tasks import TaskContext, task
from django_tasks.base import Task

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.selectors import tenant_list
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import require_current_tenant, tenant_context
from apps.tenancy.routing.work import on_commit

logger = logging.getLogger(__name__)

R = TypeVar("R")

# Marks the functions behind workspace jobs (job_enqueue refuses any other task).
WORKSPACE_JOB = "quire_workspace_job"


class WorkspaceRef(TypedDict):
    """The workspace a job belongs to, as stored in the queue."""

    id: int
    slug: str


class WorkspaceUnavailable(ApplicationError):
    """The job's workspace is briefly out of reach (a rename, restore or move): retry."""


def workspace_task(function: Callable[..., R] | None = None, *, priority: int = 0) -> Any:
    """Make a module-level function a job that runs in its workspace's context.

    Use as ``@workspace_task`` (or ``@workspace_task(priority=10)``) on a function taking
    keyword arguments that JSON can carry; queue it with ``job_enqueue``.
    """

    def decorate(func: Callable[..., R]) -> Task[Any, Any]:
        def run(context: TaskContext, workspace: WorkspaceRef, /, **kwargs: Any) -> Any:
            return _run_in_workspace(context, func, workspace, kwargs)

        # Named like the function, so the queue's task path finds this task object.
        run.__module__, run.__qualname__ = func.__module__, func.__qualname__
        run.__name__, run.__doc__ = func.__name__, func.__doc__
        setattr(run, WORKSPACE_JOB, True)
        return task(priority=priority, takes_context=True)(run)

    return decorate(function) if function is not None else decorate


def job_enqueue(job: Task[Any, Any], /, **kwargs: Any) -> None:
    """Queue a workspace job for the current workspace, once its unit of work commits.

    Inside ``work.atomic()`` the job is written to the queue after the workspace's
    commit (a rollback queues nothing), never inside the workspace's transaction: the
    queue is in the catalog, another database. Outside one, it is queued at once.
    """
    _enqueue_after_commit(job, kwargs, run_after=None)


def job_enqueue_at(job: Task[Any, Any], when: datetime, /, **kwargs: Any) -> None:
    """Queue a workspace job to run at ``when``, once the current unit of work commits.

    A job backend that cannot defer (the test settings' immediate backend would run it
    now) queues nothing, and says so in the log.
    """
    if not job.get_backend().supports_defer:
        logger.info("Not queueing %s for %s: this job backend cannot defer.", job.name, when)
        return
    _enqueue_after_commit(job, kwargs, run_after=when)


def _enqueue_after_commit(
    job: Task[Any, Any], kwargs: dict[str, Any], *, run_after: datetime | None
) -> None:
    if not getattr(job.func, WORKSPACE_JOB, False):
        raise TypeError(f"{job.module_path} is not a @workspace_task.")
    json.dumps(kwargs)  # a value JSON cannot carry fails here, in the caller
    tenant = require_current_tenant()
    options: dict[str, Any] = {"queue_name": job_queue_name(tenant)}
    if run_after is not None:
        options["run_after"] = run_after
    workspace = workspace_ref(tenant)
    on_commit(lambda: job.using(**options).enqueue(workspace, **kwargs))


def workspace_ref(tenant: Tenant) -> WorkspaceRef:
    """Return how a job names its workspace."""
    return {"id": tenant.pk, "slug": tenant.slug}


def job_queue_name(tenant: Tenant) -> str:
    """Return the queue of the node where this workspace's file is."""
    return tenant.home_node or settings.QUIRE_NODE_ID


def _run_in_workspace(
    context: TaskContext, func: Callable[..., Any], workspace: WorkspaceRef, kwargs: Any
) -> Any:
    job_id = context.task_result.id
    tenant = tenant_list().filter(pk=workspace["id"]).first()
    dropped = _drop_reason(tenant)
    if dropped or tenant is None:
        logger.warning("Job %s for workspace %s dropped: %s.", job_id, workspace["slug"], dropped)
        return {"dropped": dropped}
    if tenant.status != Tenant.Status.ACTIVE:
        raise WorkspaceUnavailable(f"Workspace {tenant.slug} is {tenant.status}; trying later.")
    home = job_queue_name(tenant)
    if home != settings.QUIRE_NODE_ID:
        context.task_result.task.using(queue_name=home).enqueue(workspace_ref(tenant), **kwargs)
        logger.info("Job %s for workspace %s sent on to %s.", job_id, tenant.slug, home)
        return {"rerouted": home}
    with tenant_context(tenant):
        return func(**kwargs)


def _drop_reason(tenant: Tenant | None) -> str:
    if tenant is None:
        return "the workspace no longer exists"
    if tenant.status == Tenant.Status.DELETED:
        return "the workspace was deleted"
    if tenant.status == Tenant.Status.SUSPENDED:
        return "the workspace is suspended"
    return ""
