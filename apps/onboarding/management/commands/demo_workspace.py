from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.context import tenant_context
from apps.tenancy.selectors import tenant_get
from apps.tenancy.services import tenant_create
from apps.tenancy.urls import tenant_url

SLUG = "demo"
EMAIL = "admin@demo.example"
PASSWORD = "quire-demo-password"  # noqa: S105 (a local demo; printed on purpose)
WELCOME_POSTS = [
    ("Welcome to Quire", "This workspace lives in its own SQLite file: demo.sqlite3."),
    ("How to write a post", "Press 'New post', give it a title and a body, and publish."),
]


class Command(BaseCommand):
    help = (
        "Create the demo workspace 'demo' with a few posts, unless it exists; print how to sign in."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if tenant_get(slug=SLUG) is None:
            tenant = tenant_create(
                slug=SLUG, name="Demo workspace", admin_email=EMAIL, admin_password=PASSWORD
            )
            with tenant_context(tenant):
                admin = User.objects.get(email=EMAIL)
                for title, body in WELCOME_POSTS:
                    post_create(author=admin, title=title, body=body)
            self.stdout.write(self.style.SUCCESS("Created the demo workspace."))
        else:
            self.stdout.write("The demo workspace exists already.")
        self.stdout.write(f"  URL:      {tenant_url(SLUG)}")
        self.stdout.write(f"  Admin:    {EMAIL}")
        self.stdout.write(f"  Password: {PASSWORD} (unless you changed it)")
