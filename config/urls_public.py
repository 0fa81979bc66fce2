"""URLs of the public site (the apex domain and www)."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.onboarding.urls")),
    path("", include("apps.sqlapi.urls_public")),
]

handler400 = "apps.core.views.bad_request"  # a body over the upload limits gets 413

# Database trouble (busy, damaged, full) gets its own page, never a 500.
handler500 = "apps.tenancy.routing.errors.server_error"
