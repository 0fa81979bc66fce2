from django.apps import AppConfig


class SqlApiConfig(AppConfig):
    name = "apps.sqlapi"
    label = "sqlapi"
    verbose_name = "SQL over HTTP"
