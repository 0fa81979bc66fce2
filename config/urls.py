"""URLs of a workspace (a tenant's subdomain)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.posts.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.notifications.urls")),
    path("", include("apps.workspace.urls")),
    path("", include("apps.sqlapi.urls")),
    path("", include("apps.usage.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "apps.core.views.bad_request"  # a body over the upload limits gets 413

# Database trouble (busy, damaged, full) gets its own page, never a 500.
handler500 = "apps.tenancy.routing.errors.server_error"
