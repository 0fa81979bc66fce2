"""URLs of the public site (the apex domain and www)."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.onboarding.urls")),
]
