"""Background jobs for workspaces, on Django's task framework (django-tasks, database queue).

Public API:

- ``queue.workspace_task``: decorate a module-level function to make it a job that runs
  inside the ``tenant_context`` of the workspace it was queued for.
- ``queue.job_enqueue(task, **kwargs)``: queue a job for the current workspace once its
  unit of work commits (nothing is queued if it rolls back); ``job_enqueue_at(task,
  when, **kwargs)`` queues it to run later.
- ``services.job_retry``, ``selectors.failed_job_list``: for operators.
- ``worker.Worker``: django-tasks' database worker with retries, backoff and the
  recovery of jobs whose worker died (management command ``run_jobs``).
"""
