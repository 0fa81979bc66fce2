from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager["User"]):
    """Create users identified by their e-mail address, stored lower-case."""

    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=(username or "").strip().lower())

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", User.Role.ADMIN)
        return self._create(email, password, **extra)

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=email.strip().lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class User(AbstractUser):
    """A member of one workspace; lives in that workspace's database."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    class PostMail(models.TextChoices):
        OFF = "off", "Never"
        EACH = "each", "For each new post"
        DAILY = "daily", "In a daily digest"

    username = None  # type: ignore[assignment]
    email = models.EmailField("e-mail address", unique=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Empty: the workspace's default zone (settings.TIME_ZONE).
    time_zone = models.CharField(max_length=64, blank=True, default="")
    avatar = models.FileField(upload_to="avatars/", blank=True, default="")
    notify_posts = models.CharField(
        "e-mail about new posts", max_length=5, choices=PostMail.choices, default=PostMail.OFF
    )
    notify_comments = models.BooleanField(
        "e-mail about comments on posts I wrote or commented on", default=True
    )
    notify_mentions = models.BooleanField("e-mail when someone mentions me", default=True)
    digest_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc, assignment]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    @property
    def display_name(self) -> str:
        """Return the member's name, or the part of their e-mail before the @."""
        return self.get_full_name() or self.email.split("@", 1)[0]

    @property
    def initials(self) -> str:
        """Return one or two capital letters for an avatar without a picture."""
        words = self.get_full_name().split() or [self.email.split("@", 1)[0] or "?"]
        first, last = words[0], words[-1]
        return (first[0] + (last[0] if len(words) > 1 else "")).upper()

    @property
    def is_workspace_admin(self) -> bool:
        """Return True if this member manages members and workspace settings."""
        return self.role == self.Role.ADMIN


class Invitation(models.Model):
    """An invitation to join the workspace, accepted once through a secret link."""

    email = models.EmailField()
    role = models.CharField(max_length=10, choices=User.Role.choices, default=User.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="invitations_sent")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email}"
