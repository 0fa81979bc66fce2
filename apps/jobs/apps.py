from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # The queue is the fleet's, in the catalog: it holds every workspace's jobs (and
        # their e-mails), so it never shows in a workspace's own admin site.
        from django.contrib import admin
        from django_tasks_db.models import DBTaskResult

        from apps.jobs import checks  # noqa: F401  (registers the system checks)

        if admin.site.is_registered(DBTaskResult):
            admin.site.unregister(DBTaskResult)
