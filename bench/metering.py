"""What usage metering costs a page, in ONE process: metering on against metering off.

    .venv/bin/python bench/metering.py [--rounds 15] [--requests 200] [--posts 200]

No HTTP server: each request is a WSGI environ handed to Django's WSGIHandler, its body
read and closed as gunicorn would. Two handlers are built once, one per mode, on the same
connection; a round alternates the modes in slices of --slice requests (the order flips
every slice), summing ``time.process_time()`` per mode, so the machine's drift (other
processes on its two cores) hits both alike. The ratio is the median over the rounds of
each round's on/off ratio, printed with its min and max. A third arm runs "off" again
(an A/A comparison): its ratio to "off" is the noise floor of the measurement on this
machine at this moment. One signed-in admin, DEBUG off.

  on    everything metering adds: the metered cursor (rows read), rows written taken from
        SQLite's counter, the request counted (by TenantMiddleware), QuotaMiddleware and
        the quota notice (the workspace on a plan with quotas, so they are really checked)
  off   QUIRE_USAGE_METERING off (plain cursors, nothing counted), no QuotaMiddleware,
        no notice

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
from typing import Any

from common import emit, fast_password_hashing, setup_django

METERING_MIDDLEWARE = ("apps.usage.middleware.QuotaMiddleware",)
NOTICE = "apps.usage.middleware.quota_notice"
TARGET = 1.02


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200, help="per mode and round")
    parser.add_argument("--slice", type=int, default=10)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--pages", default="list,list-miss", help="list, list-miss or both")
    args = parser.parse_args()
    setup_django("metering")
    tenant, cookie = make_workspace(args.posts)
    modes = Modes(cookie)
    list_off: list[float] = []
    for page in args.pages.split(","):
        before_each = write_something(tenant) if page == "list-miss" else None
        ratios, noise, cpu_on, cpu_off = [], [], [], []
        for _ in range(args.rounds):
            cpu = modes.round(args.requests, args.slice, before_each)
            ratios.append(cpu["on"] / cpu["off"])
            noise.append(cpu["off again"] / cpu["off"])
            cpu_on.append(cpu["on"])
            cpu_off.append(cpu["off"])
        if page == "list":
            list_off = cpu_off
        record = {
            "page": page,
            "cpu_ms_on": round(statistics.median(cpu_on) * 1000, 3),
            "cpu_ms_off": round(statistics.median(cpu_off) * 1000, 3),
            "ratio_median": round(statistics.median(ratios), 4),
            "ratio_min": round(min(ratios), 4),
            "ratio_max": round(max(ratios), 4),
            "off_again_over_off_median": round(statistics.median(noise), 4),
            "off_again_over_off_min": round(min(noise), 4),
            "off_again_over_off_max": round(max(noise), 4),
            "target": TARGET,
            "rounds": args.rounds,
            "requests_per_mode_and_round": args.requests,
        }
        record["met"] = record["ratio_median"] <= TARGET
        emit(record)
    if list_off:
        emit(per_request_work(tenant, statistics.median(list_off)))


class Modes:
    """Two handlers on one connection: metering on (as configured) and off."""

    def __init__(self, cookie: str) -> None:
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.template import engines
        from django.test.utils import override_settings

        self.cookie = cookie
        self.handlers = {"on": WSGIHandler()}
        without = [name for name in settings.MIDDLEWARE if name not in METERING_MIDDLEWARE]
        assert len(without) == len(settings.MIDDLEWARE) - len(METERING_MIDDLEWARE)
        with override_settings(MIDDLEWARE=without):
            self.handlers["off"] = WSGIHandler()
        engine = engines["django"].engine  # type: ignore[attr-defined]
        self.engine = engine
        on = tuple(engine.template_context_processors)
        off = tuple(p for p in on if f"{p.__module__}.{p.__name__}" != NOTICE)
        assert len(off) == len(on) - 1, "the quota notice is not configured"
        self.processors = {"on": on, "off": off}
        for mode in ("on", "off", "on"):  # warm both; leave a connection open
            self.use(mode)
            request(self.handlers[mode], cookie)

    def use(self, mode: str) -> None:
        """Switch counting, the connection's cursors and the template context to a mode."""
        from django.conf import settings
        from django.core.signals import setting_changed
        from django.db import connections

        from apps.tenancy.routing.databases import tenant_alias

        counting = mode == "on"  # TenantMiddleware counts requests
        if counting != settings.QUIRE_USAGE_METERING:
            # One setting changed, as override_settings says it (a signal), without
            # override_settings' new settings object: every setting read afresh after each
            # switch would burden whichever arm ran first after it.
            settings.QUIRE_USAGE_METERING = counting
            setting_changed.send(
                sender=type(self), setting="QUIRE_USAGE_METERING", value=counting, enter=True
            )
        self.engine.__dict__["template_context_processors"] = self.processors[mode]
        connections[tenant_alias("acme")].metered = mode == "on"

    def round(
        self, requests: int, size: int, before_each: Callable[[], None] | None
    ) -> dict[str, float]:
        """Return the CPU seconds a request of each mode took, slices alternating."""
        arms = ("on", "off", "off again")
        totals = dict.fromkeys(arms, 0.0)
        for number in range(requests // size):
            for arm in arms if number % 2 == 0 else arms[::-1]:
                mode = arm.split()[0]
                self.use(mode)
                for _ in range(size):
                    if before_each is not None:
                        before_each()
                    started = time.process_time()
                    request(self.handlers[mode], self.cookie)
                    totals[arm] += time.process_time() - started
        count = (requests // size) * size
        return {mode: total / count for mode, total in totals.items()}


def per_request_work(tenant: Any, page_cpu: float) -> dict[str, Any]:
    """Time what metering adds to every request by itself, without the page around it.

    ``count_request`` (rows taken from the connection, one request counted), the quota
    notice (its context processor and ``exceeded_quotas``: the plan's quotas against the
    month's use), and ``QuotaMiddleware`` (a layer of the middleware chain and its
    ``process_view`` for a GET), with the workspace on a plan. Far less noisy than pages.
    """
    from django.test import RequestFactory

    from apps.tenancy import metering
    from apps.usage.middleware import QuotaMiddleware, quota_notice

    page = RequestFactory().get("/", HTTP_HOST="acme.localhost")
    page.tenant = tenant  # type: ignore[attr-defined]
    page.resolver_match = None
    layer = QuotaMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    calls = 20_000
    started = time.process_time()
    for _ in range(calls):
        metering.count_request(tenant)
        quota_notice(page)["quota_notices"]()
        layer(page)
        layer.process_view(page, request, (), {})
    each = (time.process_time() - started) / calls
    return {
        "what": "count_request, the quota notice, QuotaMiddleware: per request",
        "cpu_us": round(each * 1e6, 2),
        "share_of_list_page_off": round(each / page_cpu, 4),
    }


def make_workspace(posts: int) -> tuple[Any, str]:
    """Create a workspace with posts and a plan with quotas; return it and a session cookie."""
    from django.test import Client

    from apps.accounts.models import User
    from apps.posts.services import post_create
    from apps.tenancy import metering
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.routing.context import tenant_context

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


def write_something(tenant: Any) -> Callable[[], None]:
    """Return a write to the workspace that makes the next list a cache miss."""
    from apps.posts.models import Tag
    from apps.tenancy.routing import work
    from apps.tenancy.routing.context import tenant_context

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
