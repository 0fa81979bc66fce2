"""URLs of a workspace's database: on its own host, and by path on any host (/db/<slug>/).

Clients resolve ``v2/pipeline`` against the database URL like a relative link, so a
URL with a path must end in '/'.
"""

from django.urls import include, path

from apps.sqlapi import views

app_name = "sqlapi"

endpoints = [
    path("v2", views.probe),
    path("v3", views.probe),
    path("version", views.version),
    path("health", views.health),
    path("v2/pipeline", views.pipeline),
    path("v3/pipeline", views.pipeline),
    path("v3/cursor", views.cursor),
    path("v1/execute", views.v1_execute),
    path("v1/batch", views.v1_batch),
]

# On the base domain: https://example.com/db/acme/v2/pipeline
by_path = [path("db/<slug:slug>/", include(endpoints))]

# On the workspace's host: https://acme.example.com/v2/pipeline (and the path form too).
urlpatterns = [*endpoints, *by_path]
