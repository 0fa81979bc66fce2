from django.conf import settings
from django.db import models


class Tag(models.Model):
    """A label posts can carry; lower-case, unique in the workspace."""

    name = models.CharField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Post(models.Model):
    """A post in a workspace, written in Markdown."""

    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown.")
    body_html = models.TextField(editable=False, default="")
    # The text of body_html, what search indexes and shows (db_default: SQL clients insert).
    body_text = models.TextField(editable=False, default="", db_default="")
    excerpt = models.TextField(editable=False, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="posts"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="posts")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Set when an admin pins the post: pinned posts head the list, latest pin first.
    pinned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="posts_newest_idx")]

    def __str__(self) -> str:
        return self.title


class Comment(models.Model):
    """A comment under a post, written in Markdown."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments"
    )
    body = models.TextField()
    body_html = models.TextField(editable=False, default="")
    body_text = models.TextField(editable=False, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.post_id}"


class Attachment(models.Model):
    """A file a member uploaded, stored in the workspace's own folder (its storage).

    Uploaded while a post or comment is being written, so it belongs to no post at
    first; the post or comment whose text links to it claims it when saved.
    """

    file = models.FileField(upload_to="attachments/%Y/%m/", max_length=255)
    name = models.CharField(max_length=200, help_text="The file's name as uploaded, cleaned.")
    content_type = models.CharField(max_length=100, help_text="Sniffed from the content.")
    size = models.BigIntegerField()
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attachments"
    )
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        """Return True for the image types pages show inline."""
        from apps.posts.attachments import INLINE_IMAGE_TYPES

        return self.content_type in INLINE_IMAGE_TYPES
