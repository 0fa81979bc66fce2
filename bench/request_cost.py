"""Tenancy's fixed cost a request, in ONE process: rows kept in memory against read each time.

    .venv/bin/python bench/request_cost.py [--rounds 9] [--requests 300]

A signed-in request for the sign-in page (which sends a signed-in member home: it reads
``request.user`` and renders nothing) goes through Quire's whole middleware stack, handed
to Django's WSGIHandler as gunicorn would, in two modes
that take turns within each round (the order alternates):

  kept      the settings as shipped: catalog row, session and member kept in memory
  read      the same stack reading them each time: Django's database session store and
            AuthenticationMiddleware, TENANT_CATALOG_CACHE_SIZE = 0

and ``kept-cold``, ``read-cold``: the same with the workspace's connection closed before
each request (a worker that has to open it again). CPU is ``time.process_time()``; prints
JSON lines with the median CPU a request and the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, fast_password_hashing, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    setup_django("request-cost")
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    cookie = signed_in_cookie()
    handlers = build_handlers()
    modes = ["kept", "read", "kept-cold", "read-cold"]
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for number in range(args.rounds):
        for mode in modes if number % 2 else list(reversed(modes)):
            cpu[mode].append(run(handlers[mode.split("-")[0]], mode, cookie, args.requests))
    for mode in modes:
        emit({"bench": "request_cost", "mode": mode, "cpu_ms": round(median(cpu[mode]), 3)})
    for kept, read in (("kept", "read"), ("kept-cold", "read-cold")):
        ratios = [k / r for k, r in zip(cpu[kept], cpu[read], strict=True)]
        emit(
            {
                "bench": "request_cost",
                "ratio": f"{kept} / {read}",
                "median": round(median(ratios), 3),
                "min": round(min(ratios), 3),
                "max": round(max(ratios), 3),
            }
        )


def signed_in_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.models import User
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.routing.context import tenant_context

    with fast_password_hashing():
        tenant = tenant_create(
            slug="cost", name="Cost", admin_email="a@cost.example", admin_password="x" * 12
        )
        with tenant_context(tenant):
            user = User.objects.get(email="a@cost.example")
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "apps.accounts.ratelimit.SignInThrottleBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
    return f"sessionid={session.session_key}"


def build_handlers() -> dict[str, Any]:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    stock = [
        "django.contrib.auth.middleware.AuthenticationMiddleware"
        if name == "apps.accounts.middleware.AuthenticationMiddleware"
        else name
        for name in settings.MIDDLEWARE
    ]
    with override_settings(MIDDLEWARE=stock, SESSION_ENGINE="django.contrib.sessions.backends.db"):
        read = WSGIHandler()
    return {"kept": WSGIHandler(), "read": read}


def run(handler: Any, mode: str, cookie: str, requests: int) -> float:
    """Return the CPU ms a request of this mode costs, over ``requests`` requests."""
    from django.conf import settings
    from django.test.client import RequestFactory

    from apps.tenancy.routing.databases import release_all

    environ = RequestFactory()._base_environ(
        PATH_INFO="/login/", REQUEST_METHOD="GET", HTTP_HOST="cost.localhost", HTTP_COOKIE=cookie
    )
    settings.TENANT_CATALOG_CACHE_SIZE = 20_000 if mode.startswith("kept") else 0
    spent = 0.0
    statuses = []
    for _ in range(requests):
        if mode.endswith("cold"):
            release_all()
        started = time.process_time()
        body = handler(
            dict(environ), lambda status, headers, exc_info=None: statuses.append(status)
        )
        b"".join(body)
        body.close()
        spent += time.process_time() - started
        if statuses.pop() != "302 Found":  # a signed-in member asking to sign in goes home
            sys.exit(f"{mode}: the member was not recognised")
    return 1000 * spent / requests


if __name__ == "__main__":
    main()
