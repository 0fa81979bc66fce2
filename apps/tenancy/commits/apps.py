from django.apps import AppConfig


class CommitsConfig(AppConfig):
    """A tenant app of the engine: its one table lives in every workspace's file."""

    name = "apps.tenancy.commits"
    label = "tenancy_commits"
    verbose_name = "Commit position"
    default_auto_field = "django.db.models.BigAutoField"
