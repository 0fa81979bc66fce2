"""Seed workspaces for the load test: one with posts and a signed-in session, then clones.

    python bench/load/seed.py --tenants 1000 --posts 200 --host-suffix localhost:8000 \
        --targets targets.txt

Run with the same environment as the server (settings, DATABASE_URL, TENANTS_DATA_DIR).
Each line of the targets file is "host cookie csrf" for wrk (bench/load/targets.lua).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, required=True)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--host-suffix", required=True)
    parser.add_argument("--targets", type=Path, required=True)
    parser.add_argument("--first", type=int, default=0, help="Number of the first clone to make.")
    args = parser.parse_args()

    import django

    django.setup()
    from apps.tenancy.fleet.selectors import tenant_get

    started = time.perf_counter()
    source = tenant_get(slug="load-00000") or seed_source(args.posts)
    cookie, csrf = session_for(source)
    with open(args.targets, "a") as targets:
        for n in range(max(args.first, 1), args.tenants):
            slug = clone(source, n)
            targets.write(f"{slug}.{args.host_suffix} {cookie} {csrf}\n")
        if args.first == 0:
            targets.write(f"{source.slug}.{args.host_suffix} {cookie} {csrf}\n")
    print(
        f"seeded {args.tenants} tenants in {time.perf_counter() - started:.1f} s", file=sys.stderr
    )


def seed_source(posts: int):
    from django.test.utils import override_settings

    from apps.accounts.models import User
    from apps.posts.services import comment_create, post_create
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.routing.context import tenant_context

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        tenant = tenant_create(
            slug="load-00000",
            name="Load test",
            admin_email="load@quire.example",
            admin_password="load-test-password",
        )
    with tenant_context(tenant):
        author = User.objects.get(email="load@quire.example")
        for n in range(posts):
            post = post_create(
                author=author,
                title=f"Post number {n}",
                body=f"Some **Markdown** text for post {n}, long enough to look real. " * 4,
                tags=["load", f"t{n % 10}"],
            )
            if n % 10 == 0:
                comment_create(post=post, author=author, body="A comment.")
    return tenant


def session_for(tenant):
    """Return a session cookie (and CSRF secret) valid in the source and all its clones."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.middleware.csrf import _get_new_csrf_string

    from apps.accounts.models import User
    from apps.tenancy.routing.context import tenant_context

    with tenant_context(tenant):
        user = User.objects.get(email="load@quire.example")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "apps.accounts.ratelimit.SignInThrottleBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
    csrf = _get_new_csrf_string()
    return f"sessionid={session.session_key};csrftoken={csrf}", csrf


def clone(source, n: int) -> str:
    from apps.tenancy.fleet.services import tenant_clone

    slug = f"load-{n:05}"
    tenant_clone(source=source, slug=slug, name=f"Load {n}")
    return slug


if __name__ == "__main__":
    main()
