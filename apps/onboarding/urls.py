from django.urls import path

from apps.onboarding import undelete, views

app_name = "onboarding"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="signup"),
    path("undelete/<int:tenant_id>/<str:token>/", undelete.undelete_view, name="undelete"),
]
