from django.urls import path

from apps.workspace import views

app_name = "workspace"

urlpatterns = [
    path("settings/", views.settings_view, name="settings"),
    path("settings/export.json", views.export_json, name="export_json"),
    path("settings/export.sqlite3", views.export_sqlite, name="export_sqlite"),
    path("settings/delete/", views.delete, name="delete"),
    path("settings/tokens/", views.token_new, name="token_new"),
    path("settings/tokens/<int:pk>/revoke/", views.token_revoke_view, name="token_revoke"),
]
