"""What usage metering costs a page, in ONE process: metering on against metering off.

    .venv/bin/python bench/metering.py [--rounds 15] [--requests 200] [--posts 200]

No HTTP server: each request is a WSGI environ handed to Django's WSGIHandler, its body
read and closed as gunicorn would. CPU is ``time.process_time()`` around a batch of
requests of one mode, divided by the batch size. The modes take turns within each round
(the order alternates), and the ratio is the median over the rounds of each round's
ratio, printed with its min and max. One signed-in admin, DEBUG off.

  on    everything metering adds: the metered cursor (rows read), rows written taken from
        SQLite's counter, MeteringMiddleware (a request counted), QuotaMiddleware and the
        quota notice (the workspace on a plan with quotas, so they are really checked)
  off   QUIRE_USAGE_METERING off (plain cursors), neither middleware, no notice

Pages: ``list`` (the post list, 200 posts, as served: rendered parts come from the page
cache when nothing changed) and ``list-miss`` (the first request after a write, the
list rendered from the database: the write is not measured). Target: on / off <= 1.02.
The counts go to the catalog every few seconds by a thread of their own, as in serving.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from common import emit, fast_password_hashing, setup_django

METERING_MIDDLEWARE = (
    "apps.tenancy.metering.MeteringMiddleware",
    "apps.usage.middleware.QuotaMiddleware",
)
NOTICE = "apps.usage.middleware.quota_notice"
TARGET = 1.02


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    setup_django("metering")
    tenant, cookie = make_workspace(args.posts)
    results: dict[str, list[float]] = {}
    for page in ("list", "list-miss"):
        ratios = []
        for number in range(args.rounds):
            order = ("on", "off") if number % 2 == 0 else ("off", "on")
            cpu = {mode: measure(mode, page, tenant, cookie, args.requests) for mode in order}
            ratios.append(cpu["on"] / cpu["off"])
            results.setdefault(f"{page} on", []).append(cpu["on"])
            results.setdefault(f"{page} off", []).append(cpu["off"])
        record = {
            "page": page,
            "cpu_ms_on": round(statistics.median(results[f"{page} on"]) * 1000, 3),
            "cpu_ms_off": round(statistics.median(results[f"{page} off"]) * 1000, 3),
            "ratio_median": round(statistics.median(ratios), 4),
            "ratio_min": round(min(ratios), 4),
            "ratio_max": round(max(ratios), 4),
            "target": TARGET,
            "rounds": args.rounds,
            "requests_per_batch": args.requests,
        }
        record["met"] = record["ratio_median"] <= TARGET
        emit(record)
    emit(per_request_work(tenant, statistics.median(results["list off"])))


def per_request_work(tenant: Any, page_cpu: float) -> dict[str, Any]:
    """Time what metering adds to every request by itself, without the page around it.

    ``count_request`` (rows taken from the connection, one request counted) and
    ``exceeded_quotas`` (the notice and the write check: the plan's quotas against the
    month's use), with the workspace on a plan. Far less noisy than whole pages.
    """
    from apps.tenancy import metering

    calls = 20_000
    started = time.process_time()
    for _ in range(calls):
        metering.count_request(tenant)
        metering.exceeded_quotas(tenant)
    each = (time.process_time() - started) / calls
    return {
        "what": "count_request + exceeded_quotas, per request",
        "cpu_us": round(each * 1e6, 2),
        "share_of_list_page_off": round(each / page_cpu, 4),
    }


def make_workspace(posts: int) -> tuple[Any, str]:
    """Create a workspace with posts and a plan with quotas; return it and a session cookie."""
    from django.test import Client

    from apps.accounts.models import User
    from apps.posts.services import post_create
    from apps.tenancy import metering
    from apps.tenancy.context import tenant_context
    from apps.tenancy.services import tenant_create

    with fast_password_hashing():
        tenant = tenant_create(
            slug="acme", name="Acme", admin_email="a@acme.example", admin_password="p"
        )
    metering.plan_define(name="team", rows_read=10**12, rows_written=10**12, api_calls=10**9)
    metering.tenant_set_plan(tenant=tenant, plan_name="team")
    client = Client()
    with tenant_context(tenant):
        author = User.objects.get(email="a@acme.example")
        for number in range(posts):
            post_create(author=author, title=f"Post {number}", body="Some *text*", tags=["x"])
        client.force_login(author)
    return tenant, f"sessionid={client.cookies['sessionid'].value}"


def measure(mode: str, page: str, tenant: Any, cookie: str, requests: int) -> float:
    """Return the CPU seconds of one request of this page, over a batch, in this mode."""
    from django.core.handlers.wsgi import WSGIHandler

    from apps.tenancy.databases import release_all

    with ExitStack() as stack:
        stack.enter_context(mode_settings(mode))
        release_all()  # connections are made metered or not when they open
        handler = WSGIHandler()
        before_each = write_something(tenant) if page == "list-miss" else None
        request(handler, cookie)  # warm: a connection opened, templates loaded
        total = 0.0
        for _ in range(requests):
            if before_each is not None:
                before_each()
            started = time.process_time()
            request(handler, cookie)
            total += time.process_time() - started
    release_all()
    return total / requests


def mode_settings(mode: str) -> Any:
    from django.conf import settings
    from django.test.utils import override_settings

    if mode == "on":
        return override_settings(QUIRE_USAGE_METERING=True)
    templates = [
        {
            **engine,
            "OPTIONS": {
                **engine["OPTIONS"],
                "context_processors": [
                    name for name in engine["OPTIONS"]["context_processors"] if name != NOTICE
                ],
            },
        }
        for engine in settings.TEMPLATES
    ]
    middleware = [name for name in settings.MIDDLEWARE if name not in METERING_MIDDLEWARE]
    return override_settings(QUIRE_USAGE_METERING=False, MIDDLEWARE=middleware, TEMPLATES=templates)


def write_something(tenant: Any) -> Callable[[], None]:
    """Return a write to the workspace that makes the next list a cache miss."""
    from apps.posts.models import Tag
    from apps.tenancy import work
    from apps.tenancy.context import tenant_context

    def write() -> None:
        with tenant_context(tenant), work.atomic():
            Tag.objects.create(name=f"t{time.monotonic_ns()}")

    return write


def request(handler: Any, cookie: str) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "acme.localhost",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "acme.localhost:8000",
        "HTTP_COOKIE": cookie,
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []
    response = handler(environ, lambda code, headers, exc_info=None: status.append(code))
    try:
        for _chunk in response:
            pass
    finally:
        response.close()
    if not status or not status[0].startswith("200"):
        raise SystemExit(f"The page answered {status}: the bench measures nothing useful.")


if __name__ == "__main__":
    main()
