from django.urls import path

from apps.posts import views

app_name = "posts"

urlpatterns = [
    path("", views.post_index, name="list"),
    path("posts/new/", views.post_new, name="new"),
    path("posts/<int:pk>/", views.post_detail, name="detail"),
    path("posts/<int:pk>/edit/", views.post_edit, name="edit"),
    path("posts/<int:pk>/delete/", views.post_remove, name="delete"),
    path("posts/<int:pk>/pin/", views.post_pin, name="pin"),
    path("comments/<int:pk>/delete/", views.comment_remove, name="comment_delete"),
    path("search/", views.search_view, name="search"),
    path("preview/", views.preview, name="preview"),
    path("attachments/", views.attachment_upload, name="attachment_upload"),
    path("attachments/<int:pk>/<str:name>", views.attachment_serve, name="attachment"),
]
