"""CPU a page costs, in ONE process: Quire's pages against a bare Django page, with tenancy's share.

    .venv/bin/python bench/pages.py [--tenants 10000] [--posts 200] [--rounds 9]
                                    [--requests 200] [--zipf-s 1.0] [--profile MODE]

No HTTP server: each request is a WSGI environ handed to Django's WSGIHandler, its body
read and closed as gunicorn would. CPU is ``time.process_time()`` around each batch of
10 requests of one mode (and the closing of the connections it evicted, which a thread
of the process does; usage counts are flushed to the catalog between rounds, timed on
their own); the modes' batches take turns within each round (in an order drawn anew
each round), so drift of the machine hits them alike. A mode's figure for a
round is its CPU over --requests requests, divided by their number; a ratio is the
median over the rounds of each round's ratio, printed with its min and max. Production settings,
DEBUG off, one signed-in admin (a real session cookie).

  bare          a plain Django view: the 20 newest of 200 rows from ONE SQLite file, one
                join, a small template, Django's usual middleware (bench.bare_page)
  list          Quire's post list of one workspace (200 posts), through the tenancy
  detail        a post with its comment, search (``?q=markdown``), members
  single        the post list on the same code with ONE database: bench.load.single_settings'
                middleware and its file as the default connection, no router; its
                requests counted as TenantMiddleware counts them (bench.pages_single)
  zipf          the post list of workspaces drawn from a Zipf law (exponent --zipf-s) over
                --tenants workspaces, at the default connection cap; warmed up first
  *-miss        the first request after a write to the workspace (caches miss): a batch
                of (write, then one measured request)

Ratios and targets: list, detail, search, members / bare <= 1.3; list / single <= 1.05
(tenancy tax); zipf / list <= 1.15. Also printed: the RSS of a fresh process (a child,
like a worker) once it served every workspace (target <= 150 MB at 10,000), and the zipf
floor: the share of zipf requests that opened a connection times SQLite's own open +
first read + close of a workspace file, over the list page's CPU (what opening costs
whatever the code above SQLite does).
Prints JSON lines, then a table.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import random
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"list": 1.3, "detail": 1.3, "search": 1.3, "members": 1.3}
SOURCE = "load-00000"
BATCH = 10  # requests of one mode before the next mode's turn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=10_000, help="workspaces for zipf")
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=200, help="per mode and round")
    parser.add_argument("--misses", type=int, default=30, help="write-then-read samples a round")
    parser.add_argument("--zipf-s", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=0, help="zipf warm-up (default: tenants)")
    parser.add_argument("--profile", help="profile this mode instead (cProfile, top functions)")
    parser.add_argument("--serve-each", type=Path, help=argparse.SUPPRESS)  # worker_rss()
    args = parser.parse_args()
    if args.serve_each:
        serve_each(args.serve_each)
        return
    work = Path(tempfile.mkdtemp(prefix="quire-pages-"))
    try:
        bench = Bench(work, args)
        if args.profile:
            bench.profile(args.profile)
        else:
            bench.run()
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.args = args
        started = time.perf_counter()
        configure(work)
        from bench.load.seed import seed_source, session_for

        self.source = seed_source(args.posts)
        cookie, _csrf = session_for(self.source)
        self.cookie = cookie.replace(";", "; ")
        copy_database(work / "tenants" / f"{SOURCE}.sqlite3", os.environ["QUIRE_SINGLE_DATABASE"])
        single_database_catalog()
        from bench import bare_page

        bare_page.create_database(Path(os.environ["QUIRE_BARE_DATABASE"]))
        self.slugs = make_workspaces(self.source, args.tenants)
        emit(
            {
                "bench": "pages",
                "what": "setup",
                "tenants": len(self.slugs),
                "posts_each": args.posts,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        self.handlers = build_handlers()
        self.detail_id = self.commented_post()
        self.modes = self.define_modes()
        self.check_pages()

    def commented_post(self) -> int:
        from apps.posts.models import Comment
        from apps.tenancy.routing.context import tenant_context

        with tenant_context(self.source):
            return Comment.objects.order_by("-post_id").values_list("post_id", flat=True)[0]

    def define_modes(self) -> dict[str, Callable[[int], list[tuple[Any, dict[str, Any]]]]]:
        """Return, for each mode, a maker of N (handler, environ) pairs."""
        host = f"{SOURCE}.localhost"
        quire, single, bare = self.handlers

        def same(handler: Any, host: str, path: str, query: str = "") -> Any:
            return lambda n: [(handler, environ(host, path, query, self.cookie)) for _ in range(n)]

        zipf = ZipfHosts(self.slugs, self.args.zipf_s)
        return {
            "bare": same(bare, "localhost", "/notes/"),
            "list": same(quire, host, "/"),
            "detail": same(quire, host, f"/posts/{self.detail_id}/"),
            "search": same(quire, host, "/search/", "q=markdown"),
            "members": same(quire, host, "/members/"),
            "single": same(single, "localhost", "/"),
            "zipf": lambda n: [(quire, environ(h, "/", "", self.cookie)) for h in zipf.sample(n)],
        }

    def check_pages(self) -> None:
        """Fail early unless every mode answers 200 with the page it should."""
        expect = {
            "bare": b"Note number 199",
            "list": f"Post number {self.args.posts - 1}".encode(),
            "detail": b"A comment.",
            "search": b"<mark>",
            "members": b"load@quire.example",
            "single": f"Post number {self.args.posts - 1}".encode(),
            "zipf": f"Post number {self.args.posts - 1}".encode(),
        }
        for mode, make in self.modes.items():
            [(handler, env)] = make(1)
            try:
                with self.mode_context(mode):
                    status, body = call(handler, env)
            except Exception as exc:
                sys.exit(f"{mode}: {exc!r}: the bench's set-up is wrong")
            if not status.startswith("200") or expect[mode] not in body:
                sys.exit(f"{mode}: {status}, {body[:300]!r}: the bench's set-up is wrong")

    @contextmanager
    def mode_context(self, mode: str) -> Iterator[None]:
        if mode != "single":
            yield
            return
        with single_database():
            yield

    def run(self) -> None:
        args = self.args
        self.warm_up()
        names = list(self.modes)
        rounds: list[dict[str, float]] = []
        floors: list[dict[str, float]] = []
        count_opens()
        for number in range(args.rounds):
            # A new order each round: no mode always follows the same one (a mode after
            # another on the same code finds the processor's caches warmer).
            order = random.Random(number).sample(names, len(names))
            stores = count_stores()
            cpu, zipf_opens = self.interleaved(order, args.requests)
            rendered = stores()  # in the steady state, the zipf mode's misses
            opened = zipf_opens / args.requests
            floors.append({"opened": opened, **self.open_floor(), "list_ms": cpu["list"] * 1000})
            flush = flush_usage()
            cpu.update({f"{m}-miss": self.miss_cpu(m) for m in ("list", "detail", "search")})
            self.refill()
            rounds.append(cpu)
            emit(
                {
                    "bench": "pages",
                    "round": number + 1,
                    **ms_of(cpu),
                    "parts_rendered": rendered,
                    "zipf_opened_share": round(opened, 3),
                    "sqlite_open_read_close_ms": round(floors[-1]["open_ms"], 3),
                    **flush,
                }
            )
        report(rounds, floors)
        emit(
            {
                "bench": "pages",
                "what": "process at the end",
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "page_cache_entries": len(caches_of_pages()),
                "page_cache_mb": round(sum(map(len, caches_of_pages().values())) / 2**20, 1),
            }
        )

    def warm_up(self) -> None:
        """Serve every workspace once, then Zipf traffic: the caches in their steady state."""
        from apps.tenancy.routing.databases import closed_evicted

        for mode in self.modes:
            if mode != "zipf":
                self.cpu_per_request(mode, 50)
        started = time.perf_counter()
        quire = self.handlers[0]
        for slug in self.slugs:
            call(quire, environ(f"{slug}.localhost", "/", "", self.cookie))
        closed_evicted()
        emit(self.worker_rss())
        count = self.args.warmup or len(self.slugs)
        cpu = self.cpu_per_request("zipf", count)
        emit(
            {
                "bench": "pages",
                "what": "warm-up: each workspace once, then zipf (not in the ratios)",
                "zipf_requests": count,
                "zipf_cpu_ms": round(cpu * 1000, 3),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )

    def worker_rss(self) -> dict[str, Any]:
        """Return the RSS of a fresh process, like a worker, once it served each workspace.

        This process made the workspaces and runs the other modes: its own memory says
        little about a worker's. The child serves every workspace's post list once,
        signed in, at the default connection cap, and flushes its usage counts as the
        flushing thread would.
        """
        hosts = Path(os.environ["TENANTS_DATA_DIR"]).parent / "hosts.json"  # the bench's folder
        hosts.write_text(json.dumps({"cookie": self.cookie, "slugs": self.slugs}))
        child = [sys.executable, __file__, "--serve-each", str(hosts)]
        done = subprocess.run(child, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"serving each workspace in a fresh process failed:\n{done.stderr}")
        return {"bench": "pages", **json.loads(done.stdout.splitlines()[-1]), "target_rss_mb": 150}

    def refill(self) -> None:
        """Serve each page once, unmeasured, after the writes of the miss samples.

        Otherwise the next round's first list, post and search would render afresh: a
        cost the fast-page ratios must not carry, and the single-database page never pays
        (the writes go to the workspace's file).
        """
        for mode, make in self.modes.items():
            if mode != "zipf":
                [(handler, env)] = make(1)
                with self.mode_context(mode):
                    call(handler, env)

    def interleaved(self, order: list[str], count: int) -> tuple[dict[str, float], int]:
        """Return each mode's CPU a request, over ``count`` requests in batches taking turns,
        and the tenant connections the zipf batches opened."""
        from apps.tenancy.routing.databases import closed_evicted

        calls = {mode: self.modes[mode](count) for mode in order}
        spent = dict.fromkeys(order, 0.0)
        zipf_opens = 0
        for start in range(0, count, BATCH):
            for mode in order:
                batch = calls[mode][start : start + BATCH]
                with self.mode_context(mode):
                    opens = OPENS[0]
                    started = time.process_time()
                    for handler, env in batch:
                        call(handler, env)
                    # The connections a batch evicted are closed by a thread of their own
                    # (checkpoints included): charged to that batch, not the next mode's.
                    closed_evicted()
                    spent[mode] += time.process_time() - started
                    if mode == "zipf":
                        zipf_opens += OPENS[0] - opens
        return {mode: seconds / count for mode, seconds in spent.items()}, zipf_opens

    def open_floor(self, count: int = 100) -> dict[str, float]:
        """Return SQLite's own CPU to open a closed workspace file, read it once and close it.

        Measured on ``count`` workspaces this thread has no connection to, the way the
        engine opens them (``mode=rw``, WAL): what any request pays that finds its
        workspace's connection closed, whatever the code above SQLite does.
        """
        from apps.tenancy.routing.databases import (
            ALIAS_PREFIX,
            _opened_aliases,
            database_path,
            sqlite_uri,
        )

        opened = _opened_aliases()
        closed = [slug for slug in self.slugs if ALIAS_PREFIX + slug not in opened]
        count = min(count, len(closed))
        if not count:  # every workspace is open: none to measure, and none opened
            return {"open_ms": 0.0}
        paths = [database_path(slug) for slug in random.Random(len(closed)).sample(closed, count)]
        started = time.process_time()
        for path in paths:
            connection = sqlite3.connect(sqlite_uri(path), uri=True, isolation_level=None)
            connection.execute("SELECT epoch, position FROM quire_commit_position").fetchone()
            connection.close()
        return {"open_ms": (time.process_time() - started) / count * 1000}

    def cpu_per_request(self, mode: str, count: int) -> float:
        calls = self.modes[mode](count)
        with self.mode_context(mode):
            started = time.process_time()
            for handler, env in calls:
                call(handler, env)
            return (time.process_time() - started) / count

    def miss_cpu(self, mode: str) -> float:
        """Median CPU of the first request after a write that changed the workspace."""
        samples = []
        for _ in range(self.args.misses):
            [(handler, env)] = self.modes[mode](1)
            self.write()
            started = time.process_time()
            call(handler, env)
            samples.append(time.process_time() - started)
        return statistics.median(samples)

    def write(self) -> None:
        """Commit one change to the measured workspace (advances its commit position)."""
        from apps.tenancy.routing import work
        from apps.tenancy.routing.context import tenant_context

        with tenant_context(self.source), work.atomic(), work.cursor() as cursor:
            cursor.execute("UPDATE posts_post SET title = title WHERE id = %s", [self.detail_id])

    def profile(self, mode: str) -> None:
        self.warm_up()
        calls = self.modes[mode](500)
        profiler = cProfile.Profile()
        with self.mode_context(mode):
            profiler.enable()
            for handler, env in calls:
                call(handler, env)
            profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(35)
        stats.sort_stats("cumulative").print_stats(60)


def flush_usage() -> dict[str, Any]:
    """Add the round's usage counts to the catalog, as the flushing thread would; time it.

    Serving, a thread of each process does this every QUIRE_USAGE_FLUSH_SECONDS; here it
    runs between rounds (the thread is off), so its CPU lands on no mode's batches.
    """
    from apps.tenancy import metering

    started = time.process_time()
    rows = metering.flush()
    return {"usage_flush_ms": round((time.process_time() - started) * 1000, 1), "usage_rows": rows}


OPENS = [0]  # tenant connections opened so far (count_opens)


def count_opens() -> None:
    """Count every tenant connection opened from now on, in OPENS."""
    from apps.tenancy.routing.databases import TenantDatabaseWrapper

    original = TenantDatabaseWrapper.get_new_connection

    def counting(wrapper: TenantDatabaseWrapper, params: dict[str, Any]) -> Any:
        OPENS[0] += 1
        return original(wrapper, params)

    TenantDatabaseWrapper.get_new_connection = counting  # type: ignore[method-assign,assignment]


def count_stores() -> Callable[[], int]:
    """Count the page parts rendered (stored) from now on; return the reader of the count."""
    from django.core.cache import caches

    cache = caches["pages"]
    stored = [0]
    original = type(cache).set

    def counting_set(*args: Any, **kwargs: Any) -> None:
        stored[0] += 1
        original(cache, *args, **kwargs)

    cache.set = counting_set  # type: ignore[method-assign]

    def read() -> int:
        del cache.set
        return stored[0]

    return read


def caches_of_pages() -> dict[str, Any]:
    from django.core.cache import caches

    return caches["pages"]._cache  # type: ignore[attr-defined,no-any-return]


def configure(work: Path) -> None:
    """Set up Django (bench.pages_settings) on a fresh catalog and tenants folder."""
    tenants = work / "tenants"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.pages_settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "QUIRE_USAGE_FLUSH_SECONDS": "0",  # flushed between rounds: flush_usage()
            "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
            "TENANTS_DATA_DIR": str(tenants),
            "DJANGO_CACHE_DIR": str(work / "cache"),
            "DJANGO_STATIC_ROOT": str(work / "static"),
            # Inside the tenants folder, so the unit of work's cursor opens it by its name.
            "QUIRE_SINGLE_DATABASE": str(tenants / "single.sqlite3"),
            "QUIRE_BARE_DATABASE": str(work / "bare.sqlite3"),
        }
    )
    os.environ.pop("TENANT_MAX_OPEN_CONNECTIONS", None)  # the default cap
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--no-input", verbosity=0)


def copy_database(source: Path, target: str) -> None:
    """Copy a live SQLite file, its write-ahead log included (SQLite's backup API)."""
    with sqlite3.connect(source) as reading, sqlite3.connect(target) as writing:
        reading.backup(writing)
    writing.close()
    reading.close()


def single_database_catalog() -> None:
    """Give the single file the catalog's tables too: the whole app on ONE database."""
    from django.core.management import call_command
    from django.test.utils import override_settings

    from apps.tenancy.routing.router import tenant_app_labels

    # A workspace file records the catalog's migrations as applied without their tables.
    labels = sorted(tenant_app_labels())
    marks = ", ".join("?" * len(labels))
    with sqlite3.connect(os.environ["QUIRE_SINGLE_DATABASE"]) as db:
        db.execute(f"DELETE FROM django_migrations WHERE app NOT IN ({marks})", labels)  # noqa: S608
    db.close()
    with override_settings(DATABASE_ROUTERS=[]):
        call_command("migrate", database="single", verbosity=0)


def make_workspaces(source: Any, count: int) -> list[str]:
    """Return the slugs of ``count`` workspaces: the source and clones of it."""
    from bench.load.seed import clone

    return [SOURCE] + [clone(source, n) for n in range(1, count)]


def build_handlers() -> tuple[Any, Any, Any]:
    """Return WSGI handlers: Quire, Quire on one database, the bare page."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from bench import bare_page

    quire = WSGIHandler()
    counting = "bench.pages_single.CountingWorkspaceMiddleware"
    fixed = [
        counting if name.endswith(".SingleWorkspaceMiddleware") else name
        for name in settings.SINGLE_MIDDLEWARE
    ]
    assert counting in fixed, "the single-database baseline has no fixed workspace"
    with override_settings(MIDDLEWARE=fixed):
        single = WSGIHandler()
    with override_settings(MIDDLEWARE=bare_page.MIDDLEWARE):
        bare = WSGIHandler()
    return quire, single, bare


@contextmanager
def single_database() -> Iterator[None]:
    """Make the single file the default connection and drop the router, for a block."""
    from django.db import connections, router

    catalog = connections["default"]
    routers = router.routers
    connections["default"] = connections["single"]
    router.routers = []
    try:
        yield
    finally:
        connections["default"] = catalog
        router.routers = routers


class ZipfHosts:
    """Hosts of workspaces drawn with probability proportional to 1 / rank ** s."""

    def __init__(self, slugs: list[str], s: float) -> None:
        self.hosts = [f"{slug}.localhost" for slug in slugs]
        random.Random(14).shuffle(self.hosts)  # popularity is not creation order
        weights = [1 / rank**s for rank in range(1, len(self.hosts) + 1)]
        self.cumulative = list(itertools.accumulate(weights))
        self.random = random.Random(1414)

    def sample(self, count: int) -> list[str]:
        return self.random.choices(self.hosts, cum_weights=self.cumulative, k=count)


def environ(host: str, path: str, query: str, cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "HTTP_COOKIE": cookie,
        "HTTP_ACCEPT": "text/html",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(handler: Any, env: dict[str, Any]) -> tuple[str, bytes]:
    """Serve one request as a WSGI server would: start, read the body, close."""
    status: list[str] = []
    response = handler(env, lambda line, headers, exc_info=None: status.append(line))
    try:
        body = b"".join(response)
    finally:
        response.close()
    return status[0], body


def ms_of(cpu: dict[str, float]) -> dict[str, float]:
    return {f"{mode}_ms": round(seconds * 1000, 3) for mode, seconds in cpu.items()}


def report(rounds: list[dict[str, float]], floors: list[dict[str, float]]) -> None:
    """Print the medians, each ratio's median over rounds with its spread, and a table.

    The zipf floor is what opening alone adds: the share of zipf requests that opened a
    connection times SQLite's own open, read and close, over the list page's CPU.
    """
    median = {mode: statistics.median(r[mode] for r in rounds) for mode in rounds[0]}
    ratios = {f"{page} / bare": (page, "bare", TARGETS[page]) for page in TARGETS}
    ratios["list / single (tenancy tax)"] = ("list", "single", 1.05)
    ratios["zipf / list"] = ("zipf", "list", 1.15)
    ratios["list-miss / bare"] = ("list-miss", "bare", None)
    rows = []
    for name, (top, bottom, target) in ratios.items():
        values = [r[top] / r[bottom] for r in rounds]
        row = {
            "bench": "pages",
            "ratio": name,
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
            "target": target,
            "met": None if target is None else statistics.median(values) <= target,
        }
        rows.append(row)
        emit(row)
    floor = [1 + f["opened"] * f["open_ms"] / f["list_ms"] for f in floors]
    row = {
        "bench": "pages",
        "ratio": "zipf / list floor (SQLite's open+close alone)",
        "median": round(statistics.median(floor), 3),
        "min": round(min(floor), 3),
        "max": round(max(floor), 3),
        "target": None,
        "met": None,
    }
    rows.append(row)
    emit(row)
    emit({"bench": "pages", "what": "median cpu a request", "rounds": len(rounds), **ms_of(median)})
    print("\nmode            CPU ms/request (median of rounds)")
    for mode, seconds in median.items():
        print(f"  {mode:<14}{seconds * 1000:8.3f}")
    print(f"\n  {'ratio':<46}median   min     max     target")
    for row in rows:
        target = "" if row["target"] is None else f"<= {row['target']}"
        print(
            f"  {row['ratio']:<46}{row['median']:<9}{row['min']:<8}{row['max']:<8}{target}"
            f"{'' if row['met'] is None else ('  met' if row['met'] else '  NOT MET')}"
        )


def serve_each(hosts: Path) -> None:
    """In a fresh process (Bench.worker_rss): serve each workspace once, print the RSS."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from apps.tenancy import metering
    from apps.tenancy.routing.databases import closed_evicted, open_connection_count

    given = json.loads(hosts.read_text())
    handler = WSGIHandler()
    for slug in given["slugs"]:
        status, _body = call(handler, environ(f"{slug}.localhost", "/", "", given["cookie"]))
        if not status.startswith("200"):
            sys.exit(f"{slug}: {status}")
    closed_evicted()
    metering.flush()
    record = {
        "what": "a fresh process served each workspace once (post list, signed in)",
        "workspaces_served": len(given["slugs"]),
        "rss_mb": rss_mb(),
        "open_connections": open_connection_count(),
    }
    print(json.dumps(record), flush=True)


def rss_mb() -> float:
    """Return this process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS in /proc/self/status")


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
