from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.accounts.models import User
from apps.accounts.services import member_set_name
from apps.posts.services import comment_create, post_create
from apps.tenancy.fleet.selectors import tenant_get
from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.urls import tenant_url
from apps.tenancy.routing.work import atomic

SLUG = "demo"
EMAIL = "admin@demo.example"
PASSWORD = "quire-demo-password"  # noqa: S105 (a local demo; printed on purpose)
MEMBER = "sam@demo.example"
POSTS = [
    (
        "Welcome to Quire",
        "This workspace lives in **its own SQLite file**, `demo.sqlite3`.\n\n"
        "- Write posts in Markdown\n- Comment on them\n- Search everything from the top bar",
        ["welcome"],
    ),
    (
        "Quarterly planning",
        "Goals for the quarter:\n\n1. Ship the new onboarding\n2. Halve support response time\n\n"
        "> Plans are nothing; planning is everything.",
        ["planning", "q3"],
    ),
    (
        "Design review on Thursday",
        "We will walk through the new settings page. Bring notes, and see the "
        "[style guide](https://example.com/style).",
        ["design"],
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo workspace 'demo' with a few posts, a comment and a second member, "
        "unless it exists; print how to sign in."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if tenant_get(slug=SLUG) is None:
            tenant = tenant_create(
                slug=SLUG, name="Demo workspace", admin_email=EMAIL, admin_password=PASSWORD
            )
            with tenant_context(tenant), atomic():
                self.seed()
            self.stdout.write(self.style.SUCCESS("Created the demo workspace."))
        else:
            self.stdout.write("The demo workspace exists already.")
        self.stdout.write(f"  URL:      {tenant_url(SLUG)}")
        self.stdout.write(f"  Admin:    {EMAIL}")
        self.stdout.write(f"  Password: {PASSWORD} (unless you changed it)")

    def seed(self) -> None:
        admin = User.objects.get(email=EMAIL)
        member_set_name(member=admin, first_name="Alex", last_name="Morgan")
        sam = User.objects.create_user(
            email=MEMBER, password=PASSWORD, first_name="Sam", last_name="Rivera"
        )
        posts = [post_create(author=admin, title=t, body=b, tags=tags) for t, b, tags in POSTS]
        comment_create(
            post=posts[1], author=sam, body="Count me in for the **onboarding** work, @Alex."
        )
