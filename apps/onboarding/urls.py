from django.urls import path

from apps.onboarding import views

app_name = "onboarding"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("signup/", views.signup, name="signup"),
]
