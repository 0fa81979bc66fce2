from django.urls import path

from apps.posts import views

app_name = "posts"

urlpatterns = [
    path("", views.post_index, name="list"),
    path("posts/new/", views.post_new, name="new"),
    path("posts/<int:pk>/", views.post_detail, name="detail"),
]
