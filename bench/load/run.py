"""Load, concurrency and memory, measured against gunicorn with production settings.

    .venv/bin/python bench/load/run.py [--tenants 1000] [--posts 200] [--duration 10]
                                       [--rounds 5] [--warmup 0] [--touch 10000]
                                       [--workers 4] [--threads 1] [--touch-only]

Needs wrk (Debian: apt-get install wrk). Everything runs on 127.0.0.1 in a temporary
folder; every load is bounded in time. Two servers run side by side: Quire, and the same
app configured for ONE workspace whose file is the only database (no tenant switching).
Prints one JSON line per measurement:
  read, spread, cold   GET the post list (20 posts) of random workspaces, right after
                       start: workers are still opening each workspace's connection
  warm-up              unrecorded spread reads, long enough (unless --warmup) that every
                       worker has served every workspace with 99% probability
  then --rounds rounds, interleaved so that drift of the machine hits all three alike:
    single database    the read scenario on the single-database server
    read, spread       GET the post list of random workspaces, connections open
    read, one          every request to one workspace (the cost of routing alone)
  overhead             the median over the rounds of each round's ratio
  mixed                90% reads, 10% new posts, random workspaces
  writers              16 connections writing posts to ONE workspace
  spread at the cap    spread reads with the default connection cap (256 a process),
                       more workspaces than a worker keeps open
  touch                one worker's memory after serving each of --touch workspaces once
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="seconds of unrecorded spread reads (default: enough for every worker to "
        "have served every workspace, with 99%% probability)",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--touch", type=int, default=10_000)
    parser.add_argument(
        "--touch-only", action="store_true", help="seed, then only the touch scenario"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="per worker (the baseline used 1)")
    parser.add_argument(
        "--connection-cap",
        type=int,
        default=0,
        help="TENANT_MAX_OPEN_CONNECTIONS for the load scenarios (default: tenants + 100)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="quire-load-"))
    port, single_port = free_port(), free_port()
    env = server_env(work, port, args)
    try:
        prepare(env, work, port, args)
        if args.touch_only:
            touch_many(env, work, port, args)
            return
        single_env = single_database_env(env, work, single_port)
        with Server(env, work / "multi.log") as multi:
            with Server(single_env, work / "single.log") as single:
                compare(multi, single, work, args)
            targets, one = work / "targets.txt", work / "one-target.txt"
            load(multi, "mixed (90% read, 10% write)", targets, 0.1, args)
            load(multi, f"{args.connections} writers on one workspace", one, 1.0, args)
        spread_at_default_cap(env, work, args)
        if args.touch:
            touch_many(env, work, port, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compare(multi: Server, single: Server, work: Path, args: argparse.Namespace) -> None:
    """Spread, one-workspace and single-database reads in interleaved rounds; the ratios."""
    targets, one, single_targets = (
        work / "targets.txt",
        work / "one-target.txt",
        work / "single-targets.txt",
    )
    wrk(single, single_targets, 0.0, args.connections, 3)  # workers start, templates compile
    cold = load(multi, "read, spread, cold (workers opening connections)", targets, 0.0, args)
    seconds = args.warmup or warm_up_seconds(cold["rps"], args)
    started = time.perf_counter()
    wrk(multi, targets, 0.0, args.connections, seconds)
    emit(
        {
            "scenario": "warm-up (spread reads, not recorded)",
            "seconds": round(time.perf_counter() - started, 1),
            "worker_rss_mb": multi.worker_rss_mb(),
        }
    )
    spread, routed, baseline = [], [], []
    for number in range(1, args.rounds + 1):
        extra = {"round": number}
        baseline.append(
            load(single, "read, single database (no tenancy)", single_targets, 0.0, args, extra)
        )
        spread.append(load(multi, "read, spread", targets, 0.0, args, extra))
        routed.append(load(multi, "read, all on one workspace", one, 0.0, args, extra))
    emit(
        {
            "scenario": "tenancy overhead vs the single-database run (median of rounds)",
            "single_rps": median(baseline),
            "spread_rps": median(spread),
            "one_workspace_rps": median(routed),
            "spread_overhead_pct": median_overhead(spread, baseline),
            "routing_overhead_pct": median_overhead(routed, baseline),
            "cold_spread_overhead_pct": round(100 * (1 - cold["rps"] / median(baseline)), 1),
            "spread_cpu_overhead_pct": median_cpu_overhead(spread, baseline),
            "routing_cpu_overhead_pct": median_cpu_overhead(routed, baseline),
            "rounds": args.rounds,
        }
    )


def warm_up_seconds(cold_rps: float, args: argparse.Namespace) -> int:
    """Seconds of spread reads after which each worker has served each workspace (99%).

    A request reaches one of W workers (threads, when there are several: each keeps its
    own connections) for one of T workspaces; after N requests a given worker has missed
    a given workspace with probability exp(-N / (T * W)).
    """
    requests = args.tenants * args.workers * args.threads * math.log(100)
    return max(5, math.ceil(requests / max(cold_rps, 1.0)))


def median(records: list[dict]) -> float:
    return round(statistics.median(record["rps"] for record in records), 1)


def median_ratio(measured: list[dict], baseline: list[dict], key: str) -> float:
    """The median over the rounds of measured[key] / baseline[key]."""
    return statistics.median(m[key] / b[key] for m, b in zip(measured, baseline, strict=True))


def median_overhead(measured: list[dict], baseline: list[dict]) -> float:
    """Throughput lost against the baseline, in percent."""
    return round(100 * (1 - median_ratio(measured, baseline, "rps")), 1)


def median_cpu_overhead(measured: list[dict], baseline: list[dict]) -> float:
    """Worker CPU a request costs beyond the baseline's, in percent."""
    return round(100 * (median_ratio(measured, baseline, "worker_cpu_ms_per_request") - 1), 1)


def server_env(work: Path, port: int, args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
        "TENANTS_DATA_DIR": str(work / "tenants"),
        "DJANGO_CACHE_DIR": str(work / "cache"),
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "QUIRE_URL_PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "GUNICORN_ACCESS_LOG": "",
        "TENANT_MAX_OPEN_CONNECTIONS": str(args.connection_cap or args.tenants + 100),
    }


def prepare(env: dict[str, str], work: Path, port: int, args: argparse.Namespace) -> None:
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "collectstatic", "--no-input", "-v0")
    started = time.perf_counter()
    seed(env, work, port, args.tenants, args.posts)
    first = (work / "targets.txt").read_text().splitlines()[0]
    (work / "one-target.txt").write_text(first + "\n")  # the one-workspace scenarios
    emit(
        {
            "scenario": "seed",
            "tenants": args.tenants,
            "posts_each": args.posts,
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


def seed(
    env: dict[str, str], work: Path, port: int, tenants: int, posts: int, first: int = 0
) -> None:
    subprocess.run(
        [
            PYTHON,
            str(ROOT / "bench/load/seed.py"),
            "--tenants",
            str(tenants),
            "--posts",
            str(posts),
            "--host-suffix",
            f"localhost:{port}",
            "--targets",
            str(work / "targets.txt"),
            "--first",
            str(first),
        ],
        env=env,
        check=True,
    )


def single_database_env(env: dict[str, str], work: Path, port: int) -> dict[str, str]:
    """The environment of Quire configured for one workspace whose file is the only database."""
    database = work / "single.sqlite3"
    shutil.copy(work / "tenants" / "load-00000.sqlite3", database)
    line = (work / "targets.txt").read_text().splitlines()[-1].split()
    (work / "single-targets.txt").write_text(f"localhost:{port} {line[1]} {line[2]}\n")
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "bench.load.single_settings",
        "QUIRE_SINGLE_DATABASE": str(database),
        "QUIRE_URL_PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }


def spread_at_default_cap(env: dict[str, str], work: Path, args: argparse.Namespace) -> None:
    """Spread reads when each worker may keep fewer connections than there are workspaces."""
    capped = {**env}
    del capped["TENANT_MAX_OPEN_CONNECTIONS"]
    with Server(capped, work / "capped.log") as server:
        wrk(server, work / "targets.txt", 0.0, args.connections, args.duration)
        load(server, "read, spread, default connection cap", work / "targets.txt", 0.0, args)


def touch_many(env: dict[str, str], work: Path, port: int, args: argparse.Namespace) -> None:
    """Make --touch workspaces exist, then have ONE worker serve each once; report its memory."""
    if args.touch > args.tenants:
        seed(env, work, port, args.touch, args.posts, first=args.tenants)
    lines = (work / "targets.txt").read_text().splitlines()[: args.touch]
    # One worker with the default connection cap: memory must stay flat however many
    # workspaces it serves.
    touch_env = {**env, "GUNICORN_WORKERS": "1"}
    del touch_env["TENANT_MAX_OPEN_CONNECTIONS"]
    with Server(touch_env, work / "touch.log") as server:
        started = time.perf_counter()
        failures = 0
        for line in lines:
            host, cookie, _csrf = line.split()
            status = get(port, host, cookie)
            failures += status != 200
        emit(
            {
                "scenario": "touch",
                "tenants_served": len(lines),
                "non_200": failures,
                "threads": args.threads,
                "connection_cap": "default",
                "seconds": round(time.perf_counter() - started, 1),
                "worker_rss_mb": server.worker_rss_mb(),
            }
        )


def wrk(server: Server, targets: Path, write_share: float, connections: int, seconds: int) -> str:
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench/load/targets.lua"),
            f"http://127.0.0.1:{server.port}/",
        ],
        env={**os.environ, "QUIRE_TARGETS": str(targets), "QUIRE_WRITE_SHARE": str(write_share)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def load(
    server: Server,
    name: str,
    targets: Path,
    write_share: float,
    args: argparse.Namespace,
    extra: dict | None = None,
) -> dict:
    locked_before = server.count_in_log("database is locked")
    errors_before = server.count_in_log("Internal Server Error")
    cpu_before = server.worker_cpu_seconds()
    output = wrk(server, targets, write_share, args.connections, args.duration)
    cpu = server.worker_cpu_seconds() - cpu_before
    found = re.search(r"QUIRE_RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if found is None:
        sys.exit(f"wrk printed no result:\n{output}")
    requests, bad_status, socket_errors, p50, p99, duration_us = map(int, found.groups())
    record = {
        "scenario": name,
        **(extra or {}),
        "rps": round(requests / (duration_us / 1e6), 1),
        "p50_ms": round(p50 / 1000, 2),
        "p99_ms": round(p99 / 1000, 2),
        "worker_cpu_ms_per_request": round(1000 * cpu / max(requests, 1), 3),
        "requests": requests,
        "error_responses": bad_status,
        "socket_errors": socket_errors,
        "server_errors_logged": server.count_in_log("Internal Server Error") - errors_before,
        "database_locked": server.count_in_log("database is locked") - locked_before,
        "worker_rss_mb": server.worker_rss_mb(),
    }
    emit(record)
    return record


class Server:
    """gunicorn (config/gunicorn.py) in the background, stopped on exit."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])

    def __enter__(self) -> Server:
        self.handle = open(self.log, "w")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.py"), "config.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while get(self.port, "localhost", "", "/healthz") != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                sys.exit(f"gunicorn did not start; see {self.log}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.handle.close()

    def workers(self) -> list[str]:
        pid = self.process.pid
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()

    def worker_cpu_seconds(self) -> float:
        """CPU time the workers have used so far (user + system)."""
        ticks = 0
        for pid in self.workers():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def worker_rss_mb(self) -> float:
        sizes = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
        return round(max(sizes), 1) if sizes else 0.0

    def count_in_log(self, text: str) -> int:
        self.handle.flush()
        return self.log.read_text(errors="replace").count(text)


def get(port: int, host: str, cookie: str, path: str = "/") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host, "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def emit(record: dict) -> None:
    print(json.dumps({"bench": "load", **record}), flush=True)


if __name__ == "__main__":
    main()
