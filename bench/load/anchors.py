"""Quire's posts page against the anchor apps over HTTP, side by side in one run.

    .venv/bin/python bench/load/anchors.py [--rounds 3] [--duration 15] [--warmup 5]
                                           [--first-warmup N] [--tenants 100]

The anchors are the apps of ../shared/anchors/django_tenants_pg (see its README), run
from there, with its virtualenv, app copy and PostgreSQL cluster under $ANCHOR
(/tmp/anchor): set them up first with its scripts (setup.sh, pg.sh start, then its
tenants.py reset / create 1 100 / seed 1 100 and baseline.py --target sqlite).

Every server runs gunicorn with 4 sync workers (-w 4 -k sync), on 127.0.0.1; the load is
wrk -t2 -c16 with the Host header spread uniformly over 100 workspaces:
  quire             GET / (the posts page, 20 posts), signed in, 100 workspaces
  django_sqlite     the one-file Django page (GET /notes/, 20 notes, one SQLite file)
  django_tenants    the same page under django-tenants on PostgreSQL, 100 schemas
All three servers are started once and warmed up (--first-warmup requests); each round measures
each server in turn after a short warm-up run, so that drift of the machine hits all
alike. Prints one JSON line per measurement (req/s, p50/p99, worker CPU per request, and
PostgreSQL's CPU per request for django-tenants), then per round the ratios, then their
medians.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.load.run import (
    ROOT,
    Server,
    emit,
    free_port,
    get,
    prepare,
    server_env,
)

ANCHOR = Path(os.environ.get("ANCHOR", "/tmp/anchor"))  # noqa: S108 (the anchors' default)
ANCHOR_SCRIPTS = ROOT.parent / "shared" / "anchors" / "django_tenants_pg"
TARGETS = ("quire", "django_sqlite", "django_tenants")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="seconds before each measurement")
    parser.add_argument(
        "--first-warmup",
        type=int,
        default=0,
        help="requests each server serves before the first round (default: enough that "
        "each of the 4 workers has served each workspace, with 99%% probability)",
    )
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    check_anchors()
    work = Path(tempfile.mkdtemp(prefix="quire-anchors-"))
    port = free_port()
    env = quire_env(work, port, args)
    try:
        prepare(env, work, port, argparse.Namespace(tenants=args.tenants, posts=args.posts))
        with (
            Server(env, work / "quire.log") as quire,
            Anchor("sqlite", work) as one_file,
            Anchor("tenants", work) as tenants,
        ):
            servers = {"quire": quire, "django_sqlite": one_file, "django_tenants": tenants}
            compare(servers, work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_anchors() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    missing = [
        str(path)
        for path in (ANCHOR / "venv/bin/gunicorn", ANCHOR / "app/benchproj", ANCHOR_SCRIPTS)
        if not path.exists()
    ]
    if missing:
        sys.exit(f"the anchor apps are not set up ({', '.join(missing)}): see this docstring")


def quire_env(work: Path, port: int, args: argparse.Namespace) -> dict[str, str]:
    """Quire's production settings with the anchors' worker model: 4 sync workers."""
    namespace = argparse.Namespace(workers=4, threads=1, connection_cap=0, tenants=args.tenants)
    return {**server_env(work, port, namespace), "GUNICORN_WORKER_CLASS": "sync"}


class Anchor:
    """One anchor app under gunicorn from its own virtualenv, as its http_bench.py starts it."""

    def __init__(self, target: str, work: Path) -> None:
        self.target, self.log, self.port = target, work / f"anchor-{target}.log", free_port()

    def __enter__(self) -> Anchor:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": f"benchproj.settings_{self.target}",
            "PYTHONPATH": str(ANCHOR / "app"),
            "PGHOST": "127.0.0.1",
            "PGPORT": os.environ.get("PGPORT", "5433"),
            "PGUSER": "postgres",
        }
        command = [
            str(ANCHOR / "venv/bin/gunicorn"),
            "benchproj.wsgi:application",
            "--chdir",
            str(ANCHOR / "app"),
            "-b",
            f"127.0.0.1:{self.port}",
            "-w",
            "4",
            "-k",
            "sync",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ]
        self.handle = open(self.log, "w")
        self.process = subprocess.Popen(
            command, env=env, stdout=self.handle, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while get(self.port, "t001.localhost", "", "/notes/") != 200:
            if time.monotonic() > deadline or self.process.poll() is not None:
                sys.exit(f"the {self.target} anchor did not start; see {self.log}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.handle.close()

    workers = Server.workers
    worker_cpu_seconds = Server.worker_cpu_seconds
    worker_rss_mb = Server.worker_rss_mb


def compare(servers: dict, work: Path, args: argparse.Namespace) -> None:
    wanted = args.first_warmup or math.ceil(args.tenants * 4 * math.log(100))
    for name in TARGETS:
        served = 0
        while served < wanted:
            output = load_generator(name, servers[name], work, args, 5)
            served += int(re.search(r"(\d+) requests in", output).group(1))
    rounds: list[dict[str, dict]] = []
    for number in range(1, args.rounds + 1):
        measured = {name: measure(name, servers[name], work, args, number) for name in TARGETS}
        rounds.append(measured)
        emit({"scenario": "anchors: ratios", "round": number, **ratios(measured)})
    medians = {
        key: round(statistics.median(ratios(measured)[key] for measured in rounds), 3)
        for key in ratios(rounds[0])
    }
    summary = {
        f"{name}_{field}": statistics.median(measured[name][field] for measured in rounds)
        for name in TARGETS
        for field in ("rps", "p50_ms", "p99_ms", "worker_cpu_ms_per_request")
    }
    emit({"scenario": "anchors: medians of rounds", "rounds": args.rounds, **medians, **summary})


def ratios(measured: dict[str, dict]) -> dict[str, float]:
    quire, one_file, tenants = (measured[name] for name in TARGETS)
    return {
        "rps_quire_vs_django_sqlite": round(quire["rps"] / one_file["rps"], 3),
        "rps_quire_vs_django_tenants": round(quire["rps"] / tenants["rps"], 3),
        "cpu_quire_vs_django_sqlite": round(
            quire["worker_cpu_ms_per_request"] / one_file["worker_cpu_ms_per_request"], 3
        ),
        "cpu_quire_vs_django_tenants": round(
            quire["worker_cpu_ms_per_request"] / tenants["worker_cpu_ms_per_request"], 3
        ),
    }


def measure(name: str, server, work: Path, args: argparse.Namespace, number: int) -> dict:
    """Warm up, then one measured wrk run; return its figures."""
    load_generator(name, server, work, args, args.warmup)
    cpu_before, db_before = server.worker_cpu_seconds(), postgres_cpu_ticks()
    output = load_generator(name, server, work, args, args.duration)
    cpu = server.worker_cpu_seconds() - cpu_before
    db_after = postgres_cpu_ticks()
    db_ticks = sum(ticks - db_before.get(pid, 0) for pid, ticks in db_after.items())
    db_cpu = db_ticks / os.sysconf("SC_CLK_TCK")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    record = {
        "scenario": f"anchors: {name}",
        "round": number,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": latency_ms(output, "50"),
        "p99_ms": latency_ms(output, "99"),
        "worker_cpu_ms_per_request": round(1000 * cpu / max(requests, 1), 3),
        "requests": requests,
        "error_responses": int(bad.group(1)) if bad else 0,
        "worker_rss_mb": server.worker_rss_mb(),
    }
    if name == "django_tenants":
        record["postgres_cpu_ms_per_request"] = round(1000 * db_cpu / max(requests, 1), 3)
    if record["error_responses"]:
        record["a_response_now"] = sample_response(name, server, work)
    emit(record)
    return record


def sample_response(name: str, server, work: Path) -> str:
    """Return the status and start of one page now, to say what the errors were."""
    if name == "quire":
        host, cookie, _csrf = (work / "targets.txt").read_text().split("\n", 1)[0].split()
        path = "/"
    else:
        host, cookie, path = "t001.localhost", "", "/notes/"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host, "Cookie": cookie})
        response = connection.getresponse()
        return f"{response.status} {response.read()[:200]!r}"
    finally:
        connection.close()


def load_generator(name: str, server, work: Path, args: argparse.Namespace, seconds: int) -> str:
    """Run wrk against one server; Quire's targets are signed-in sessions of its workspaces."""
    common = [
        "wrk",
        "-t2",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if name == "quire":
        script, url = ROOT / "bench/load/targets.lua", f"http://127.0.0.1:{server.port}/"
        env = {**os.environ, "QUIRE_TARGETS": str(work / "targets.txt"), "QUIRE_WRITE_SHARE": "0"}
    else:
        script, url = ANCHOR_SCRIPTS / "bench/hosts.lua", f"http://127.0.0.1:{server.port}/notes/"
        env = {**os.environ, "NTENANTS": str(args.tenants), "WRITE_PCT": "0"}
    result = subprocess.run(
        [*common, "-s", str(script), url], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def latency_ms(output: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if found is None:
        return float("nan")
    return round(float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)], 2)


def postgres_cpu_ticks() -> dict[int, int]:
    """CPU ticks each PostgreSQL process has used so far (the anchor's own cluster)."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


if __name__ == "__main__":
    main()
