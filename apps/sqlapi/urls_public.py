"""URLs of every workspace's database on the base domain (the path form)."""

from apps.sqlapi.urls import app_name, by_path

__all__ = ["app_name", "urlpatterns"]

urlpatterns = by_path
