from django.urls import path

from apps.usage import views

app_name = "usage"

urlpatterns = [
    path("settings/usage/", views.usage_view, name="usage"),
]
