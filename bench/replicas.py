"""Read replica figures from two real nodes on 127.0.0.1, SeaweedFS as the object store.

    .venv/bin/python bench/replicas.py [--rounds 1000] [--placements 10,100,1000] [--active 10]

node-1 holds the primaries (gunicorn + litestream replicate); node-2 holds read replicas
(gunicorn + manage.py replica_supervisor: one `litestream restore -f` per placed
workspace being read there); they share a PostgreSQL catalog. Replication intervals
are the defaults (100 ms). node-2 reaches node-1 through a proxy in this process that
delays every byte 50 ms each way, and a new connection by one more round trip, as a TCP
handshake between regions would. node-2's followers reach SeaweedFS through a proxy that
counts their S3 requests.

Prints JSON lines:
  read_latency      GET / of a workspace on node-2 served by its replica, the same page
                    of a twin workspace with no replica on node-2 (forwarded to node-1),
                    and the replica's page on node-1 itself; interleaved, in rounds
  page_cpu          the CPU time of that page in one Django process (no HTTP): served
                    from node-2's replica file (on a kept connection, and on a new one
                    each request) vs from node-1's primary file, in blocks taking
                    turns, the median of each block, in rounds
  lag               seconds from a commit on node-1 until node-2's replica file holds it,
                    under a steady write load
  read_your_writes  a signed-in client on node-2 posts, then reads the list at once
  cost              what keeping replicas costs node-2 (followers and supervisor):
                    processes, memory, CPU and S3 requests, with 10, 100, 1,000 workspaces
                    placed there (long ago) of which --active are being read; idle and
                    under light writes; and how long an idle placement takes to wake
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import resource
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import emit as print_json
from common import percentile

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-Replicas-pass-77"  # noqa: S105 (a throwaway installation)
BOOKMARK = "quire_bookmark"
SERVED_BY = "X-Quire-Served-By"
REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/1")
POST_BODY = "A seeded post.\n\n" + "Some *markdown* text, the same on every workspace. " * 12
CHILD_MODES = ("seed", "write", "cpu")


def log(message: str) -> None:
    print(f"[replicas] {message}", file=sys.stderr, flush=True)


# A TCP proxy in a thread of this process: delays every byte, counts HTTP requests ------


class TcpProxy:
    """Forward 127.0.0.1:port to an upstream port, each byte `delay` seconds late.

    A new connection's first byte upstream waits three one-way delays (SYN, SYN-ACK,
    then the data), as over a real link. With `count`, HTTP request lines sent upstream
    are counted by kind (S3 LIST, GET, other).
    """

    def __init__(self, upstream_port: int, *, delay: float = 0.0, count: bool = False) -> None:
        from tests.crash.conftest import free_port

        self.port, self.upstream_port = free_port(), upstream_port
        self.delay, self.count = delay, count
        self.connections = 0
        self._open: set[asyncio.Task[None]] = set()  # asyncio holds tasks weakly
        self.requests = {"list": 0, "get": 0, "other": 0}
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"proxy-{self.port}")

    def start(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"proxy on {self.port} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        await self._stopping.wait()
        server.close()  # open connections are cancelled when the loop ends

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._open.add(task)
            task.add_done_callback(self._open.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        inspect = self._inspect if self.count else None
        # When the proxy stops, its open connections end with it.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pipe(reader, up_writer, opened + 3 * self.delay, inspect),
                self._pipe(up_reader, writer, 0.0, None),
                return_exceptions=True,
            )
        for end in (up_writer, writer):
            end.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        not_before: float,
        inspect: Callable[[bytes], None] | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.create_task(self._deliver(queue, writer))
        try:
            while data := await reader.read(65536):
                if inspect is not None:
                    inspect(data)
                queue.put_nowait((max(loop.time() + self.delay, not_before), data))
            queue.put_nowait((loop.time() + self.delay, b""))
            await sender
        except ConnectionError:
            sender.cancel()

    async def _deliver(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    def _inspect(self, data: bytes) -> None:
        for method, target in REQUEST_LINE.findall(data):
            if method == b"GET" and b"list-type=" in target:
                self.requests["list"] += 1
            elif method == b"GET":
                self.requests["get"] += 1
            else:
                self.requests["other"] += 1


# The two nodes -----------------------------------------------------------------------


class Cluster:
    """SeaweedFS, node-1 (primaries) and node-2 (replicas) in one folder; stops them all."""

    def __init__(self, work: Path, delay: float) -> None:
        from tests.crash.conftest import Quire, free_port

        self.work = work
        self.quire = Quire(work, DJANGO_CACHE_DIR=str(work / "cache"))
        self.delay = delay
        self.ports = {"node-1": free_port(), "node-2": free_port()}
        self.proxies: list[TcpProxy] = []
        self.seaweed: subprocess.Popen[bytes] | None = None
        self.catalog = contextlib.ExitStack()
        self.supervisor: subprocess.Popen[bytes] | None = None
        self.litestream: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from tests.replication.conftest import start_seaweedfs
        from tests.replication.postgres import postgres_cluster

        # The nodes share a PostgreSQL catalog, as several machines must.
        self.quire.env["DATABASE_URL"] = self.catalog.enter_context(postgres_cluster())

        (self.work / "seaweedfs").mkdir()
        endpoint, self.seaweed = start_seaweedfs(self.work / "seaweedfs")
        s3_port = int(endpoint.rsplit(":", 1)[1])
        self.wan = self.proxy(self.ports["node-1"], delay=self.delay)
        self.s3_counter = self.proxy(s3_port, count=True)
        secret, prefix = secrets.token_urlsafe(50), f"bench-replicas-{os.getpid()}"
        direct = ",".join(f"{name}=127.0.0.1:{port}" for name, port in self.ports.items())
        via_wan = f"node-1=127.0.0.1:{self.wan.port},node-2=127.0.0.1:{self.ports['node-2']}"
        self.env = {
            "node-1": self.node_env("node-1", direct, endpoint, prefix, secret),
            "node-2": self.node_env(
                "node-2", via_wan, f"http://127.0.0.1:{self.s3_counter.port}", prefix, secret
            ),
        }
        self.manage("node-1", "migrate", "--no-input")
        self.manage("node-1", "collectstatic", "--no-input", "-v0")
        self.litestream = self.start_node("node-1")
        self.start_node("node-2")
        self.supervisor = self.spawn(
            "node-2-supervisor", [sys.executable, "manage.py", "replica_supervisor"], "node-2"
        )

    def node_env(self, name: str, nodes: str, s3: str, prefix: str, secret: str) -> dict[str, str]:
        from tests.replication.test_two_nodes import node_env

        port = self.ports[name]
        env = node_env(name, port, nodes, s3, prefix, secret)
        # Production defaults: sync interval 100 ms, SQLite busy timeout (the tests' 1 s
        # makes a catalog write fail while the supervisor reports 100 positions).
        for setting in ("QUIRE_REPLICA_SYNC_INTERVAL", "TENANT_DB_TIMEOUT"):
            del env[setting]
        return {**self.quire.env, **env, "TENANTS_DATA_DIR": str(self.work / name)}

    def proxy(self, upstream: int, **options: Any) -> TcpProxy:
        proxy = TcpProxy(upstream, **options).start()
        self.proxies.append(proxy)
        return proxy

    def manage(self, node: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env[node],
            capture_output=True,
            text=True,
            check=True,
        )

    def spawn(self, name: str, command: list[str], node: str, **env: str) -> subprocess.Popen:
        """Start a process in its own process group, its output in a log file."""
        with open(self.work / f"{name}.log", "ab") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.env[node], **env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.quire.processes.append(process)
        return process

    def start_node(self, node: str) -> subprocess.Popen:
        """Start a node's Litestream and gunicorn (as make serve-replicated does)."""
        from tests.crash.conftest import wait_until

        Path(self.env[node]["TENANTS_DATA_DIR"]).mkdir(exist_ok=True)
        config = self.work / f"{node}-litestream.yml"
        self.manage(node, "litestream_config", "-o", str(config))
        litestream = str(Path(sys.executable).with_name("litestream"))
        process = self.spawn(
            f"{node}-litestream",
            [litestream, "replicate", "-config", str(config)],
            node,
            AWS_CA_BUNDLE="",
        )
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
        self.spawn(f"{node}-gunicorn", gunicorn, node)
        wait_until(lambda: answers(self.ports[node]), timeout=60, what=f"{node} to answer")
        return process

    def child(self, mode: str, *args: str) -> list[str]:
        """Run this script as a Django process of node-1 (seed, place); return its command."""
        return [sys.executable, str(Path(__file__).resolve()), mode, *args]

    def run_child(self, mode: str, *args: str) -> None:
        subprocess.run(self.child(mode, *args), cwd=ROOT, env=self.env["node-1"], check=True)

    def replica(self, slug: str) -> Path:
        return self.work / "node-2" / ".replicas" / f"{slug}.sqlite3"

    def client(self, node: str, slug: str, *, bookmark: bool = False) -> Any:
        """Return a session signed in as the workspace's admin; with or without a bookmark."""
        from tests.crash.conftest import HttpSession

        port = self.ports[node]
        session = HttpSession(port, f"{slug}.localhost:{port}")
        session.sign_in(f"boss@{slug}.example", PASSWORD)
        if not bookmark:
            session.cookies.pop(BOOKMARK, None)
        return session

    def stop(self) -> None:
        if self.supervisor is not None and self.supervisor.poll() is None:
            self.supervisor.terminate()  # it stops its followers
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.supervisor.wait(timeout=15)
        self.quire.stop()  # SIGKILL to every process group still alive
        self.catalog.close()
        for proxy in self.proxies:
            proxy.stop()
        if self.seaweed is not None:
            from tests.replication.conftest import stop

            stop(self.seaweed)


def answers(port: int) -> bool:
    from tests.crash.conftest import HttpSession

    try:
        return HttpSession(port, "localhost").request("GET", "/healthz")[0] == 200
    except OSError:
        return False


def replica_position(path: Path) -> int | None:
    """Read a replica's commit position with a short read-only connection, as the app does."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        row = connection.execute("SELECT position FROM quire_commit_position").fetchone()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return int(row[0]) if row else None


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> float:
    """Wait until condition() is true; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


# Figures ---------------------------------------------------------------------------


def ms(seconds: list[float]) -> dict[str, float]:
    values = [s * 1000 for s in seconds]
    if not values:
        return {}
    return {
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


def emit(record: dict[str, Any]) -> None:
    print_json({"bench": "replicas", **record})


def timed_get(session: Any, path: str = "/") -> tuple[float, int, str, int]:
    started = time.perf_counter()
    status, page = session.request("GET", path)
    return time.perf_counter() - started, status, session.headers.get(SERVED_BY, ""), len(page)


# 2. Read latency across an injected inter-region delay ----------------------------


def measure_read_latency(cluster: Cluster, rounds: int, requests: int) -> None:
    """Replica page vs forwarded page vs the primary's own node, interleaved."""
    clients = {
        "replica": (cluster.client("node-2", "acme"), "node-2 replica"),
        "forwarded": (cluster.client("node-2", "twin"), "node-1 primary"),
        "primary_node": (cluster.client("node-1", "acme"), "node-1 primary"),
    }
    replica_client = clients["replica"][0]
    wait_for(
        lambda: timed_get(replica_client)[1:3] == (200, "node-2 replica"),
        60,
        "node-2's replica to serve the signed-in page",
    )
    kinds = list(clients)
    samples: dict[str, list[list[float]]] = {kind: [] for kind in kinds}
    sizes: dict[str, set[int]] = {kind: set() for kind in kinds}
    unexpected = {kind: 0 for kind in kinds}
    for number in range(rounds + 1):  # round 0 warms up and is left out
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for n in range(requests):
            for kind in kinds[n % 3 :] + kinds[: n % 3]:  # no kind always goes first
                session, expected = clients[kind]
                session.cookies.pop(BOOKMARK, None)
                seconds, status, served_by, size = timed_get(session)
                if status != 200 or served_by != expected:
                    unexpected[kind] += 1
                    continue
                times[kind].append(seconds)
                sizes[kind].add(size)
        if number:
            for kind in kinds:
                samples[kind].append(times[kind])
    emit(read_latency_record(samples, sizes, unexpected, cluster.delay, requests))


def read_latency_record(
    samples: dict[str, list[list[float]]],
    sizes: dict[str, set[int]],
    unexpected: dict[str, int],
    delay: float,
    requests: int,
) -> dict[str, Any]:
    medians = {kind: [statistics.median(r) for r in rounds] for kind, rounds in samples.items()}
    forwarded_ratio = [f / r for f, r in zip(medians["forwarded"], medians["replica"])]  # noqa: B905
    replica_ratio = [r / p for r, p in zip(medians["replica"], medians["primary_node"])]  # noqa: B905
    pooled = {kind: [s for r in rounds for s in r] for kind, rounds in samples.items()}
    return {
        "scenario": "read_latency",
        "delay_ms_each_way": round(delay * 1000),
        "page": "GET / (post list, signed in, no bookmark)",
        "forwarded_how": "twin workspace, same posts, no replica placed on node-2",
        "rounds": len(samples["replica"]),
        "requests_per_round": requests,
        **{
            kind: {**ms(values), "bytes": sorted(sizes[kind]), "unexpected": unexpected[kind]}
            for kind, values in pooled.items()
        },
        "forwarded_over_replica": spread(forwarded_ratio),
        "forwarded_over_replica_target": ">= 10",
        "replica_over_primary_node": spread(replica_ratio),
        "replica_over_primary_node_target": "<= 1.2",
    }


def measure_page_cpu(cluster: Cluster, rounds: int, requests: int) -> None:
    """In-process CPU of the replica page vs the primary's page (a child of node-2)."""
    session = cluster.client("node-2", "acme")
    cookies = ",".join(f"{name}={value}" for name, value in session.cookies.items())
    out = cluster.work / "page_cpu.json"
    command = cluster.child(
        "cpu",
        "--slugs",
        "acme",
        "--cookies",
        cookies,
        "--host",
        session.host,
        "--primary-dir",
        cluster.env["node-1"]["TENANTS_DATA_DIR"],
        "--rounds",
        str(rounds),
        "--requests",
        str(requests),
        "--out",
        str(out),
    )
    subprocess.run(command, cwd=ROOT, env=cluster.env["node-2"], check=True)
    emit(json.loads(out.read_text()))


def page_cpu(
    slug: str, cookies: str, host: str, primary_dir: str, rounds: int, requests: int
) -> dict[str, Any]:
    """Time GET / in this process as node-2 (replica) and as node-1 (primary file).

    Run in node-2's environment; node-1 is the same settings with node-1's id and tenants
    folder. Blocks of `requests` of each kind take turns (which kind goes first turns
    too), and the first request of each block is left out: switching nodes drops the
    thread's connection to the primary file, which a real primary node keeps.
    """
    from django.test import Client
    from django.test.utils import override_settings

    from apps.tenancy.nodes import replicapool

    client = Client()
    for pair in cookies.split(","):
        name, value = pair.split("=", 1)
        client.cookies[name] = value
    # How each kind is served: node-1's own file, or node-2's replica on a kept
    # connection, or (as before replica connections were kept) a new one each request.
    modes = {
        "primary": override_settings(QUIRE_NODE_ID="node-1", TENANTS_DATA_DIR=primary_dir),
        "replica": override_settings(),
        "replica_new_connection": override_settings(QUIRE_REPLICA_KEPT_CONNECTIONS=0),
    }
    expected = {"primary": "node-1 primary"}

    def block(kind: str) -> list[float]:
        times = []
        with modes[kind]:
            for _ in range(requests + 1):
                started = time.thread_time()
                response = client.get("/", HTTP_HOST=host)
                spent = time.thread_time() - started
                served = response.headers.get(SERVED_BY)
                if response.status_code != 200 or served != expected.get(kind, "node-2 replica"):
                    raise RuntimeError(f"{kind} page: {response.status_code}, served by {served}")
                times.append(spent)
        return times[1:]

    kinds = list(modes)
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    ratios: dict[str, list[float]] = {kind: [] for kind in kinds[1:]}
    for number in range(rounds + 1):  # round 0 warms up and is left out
        medians = {}
        for kind in kinds[number % 3 :] + kinds[: number % 3]:  # no kind always goes first
            times = block(kind)
            medians[kind] = statistics.median(times)
            if number:
                samples[kind].extend(times)
        if number:
            for kind in ratios:
                ratios[kind].append(medians[kind] / medians["primary"])
    return {
        "scenario": "page_cpu",
        "page": "GET / (post list, signed in, no bookmark), Django test client, no HTTP",
        "rounds": rounds,
        "requests_per_block": requests,
        **{f"{kind}_cpu_ms": round(statistics.median(samples[kind]) * 1000, 2) for kind in kinds},
        "replica_over_primary_cpu": spread(ratios["replica"]),
        "replica_over_primary_cpu_target": "<= 1.2",
        "new_connection_over_primary_cpu": spread(ratios["replica_new_connection"]),
        "kept_replica_connections": replicapool.kept_count(),
    }


def spread(ratios: list[float]) -> dict[str, Any]:
    """The median of the rounds' ratios and their range."""
    return {
        "median": round(statistics.median(ratios), 2),
        "min": round(min(ratios), 2),
        "max": round(max(ratios), 2),
        "rounds": [round(r, 2) for r in ratios],
    }


# 1. Replica lag under a steady write load -------------------------------------------


class PositionWatch:
    """Poll a replica's commit position in a thread; remember when each one appeared."""

    def __init__(self, path: Path, every: float) -> None:
        self.path, self.every = path, every
        self.seen: list[tuple[int, float]] = []
        self.reads = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="position-watch")

    def __enter__(self) -> PositionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            position = replica_position(self.path)
            now = time.monotonic()
            self.reads += 1
            if position is None:
                self.failed += 1
            elif position != last:
                self.seen.append((position, now))
                last = position
            self._stop.wait(self.every)

    def reached(self, position: int) -> float | None:
        """Return when the replica first held this position (or a later one)."""
        index = bisect_left([p for p, _ in self.seen], position)
        return self.seen[index][1] if index < len(self.seen) else None


def measure_lag(cluster: Cluster, rate: float, seconds: float, poll: float) -> None:
    """Write to acme on node-1 at a steady rate; time each commit's arrival on node-2."""
    out = cluster.work / "lag-writes.txt"
    with PositionWatch(cluster.replica("acme"), poll) as watch:
        writer = cluster.spawn(
            "lag-writer",
            writer_command(cluster, ["acme"], rate, seconds, out),
            "node-1",
        )
        writer.wait(timeout=seconds + 60)
        commits = read_commits(out)
        last = max((position for _, position, _ in commits), default=0)
        try:
            wait_for(lambda: watch.reached(last) is not None, 30, "the last write on node-2")
        except RuntimeError:
            log("the replica did not reach the last write within 30 s")
    lags, missing = [], 0
    for _, position, committed in commits:
        arrived = watch.reached(position)
        if arrived is None:
            missing += 1
        else:
            lags.append(max(0.0, arrived - committed))
    record = {
        "scenario": "lag",
        "writes": len(commits),
        "writes_per_s": rate,
        "seconds": seconds,
        "intervals": "monitor, sync and follow 100 ms (defaults)",
        "poll_ms": round(poll * 1000, 1),
        "never_arrived": missing,
        "poll_errors": watch.failed,
    }
    if lags:
        record.update(
            {
                "p50_s": round(percentile(lags, 0.5), 3),
                "p90_s": round(percentile(lags, 0.9), 3),
                "p99_s": round(percentile(lags, 0.99), 3),
                "max_s": round(max(lags), 3),
                "target_p99_s": 1.0,
            }
        )
    emit(record)


def writer_command(
    cluster: Cluster, slugs: list[str], rate: float, seconds: float, out: Path
) -> list[str]:
    """Return the command of a child that writes to these workspaces on node-1."""
    options = {"--slugs": ",".join(slugs), "--rate": rate, "--seconds": seconds, "--out": out}
    return cluster.child("write", *(str(part) for pair in options.items() for part in pair))


def read_commits(path: Path) -> list[tuple[str, int, float]]:
    """Return (slug, position, monotonic commit time) for each write a writer made."""
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(slug, int(position), float(at)) for slug, position, at in rows]


# 3. Read-your-writes --------------------------------------------------------------


def measure_read_your_writes(cluster: Cluster, rounds: int, clients: int) -> None:
    """Post on node-2 (forwarded to node-1), then read the list on node-2 at once."""
    sessions = [cluster.client("node-2", "acme", bookmark=True) for _ in range(clients)]
    for session in sessions:
        # The CSRF token changes at sign-in; with the bookmark, the replica has the session.
        session.request("GET", "/posts/new/")
    shares = [rounds // clients + (n < rounds % clients) for n in range(clients)]
    results: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            results[n] = [write_then_read(sessions[n], f"{n}x{k}") for k in range(shares[n])]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    rows = [row for rows in results for row in rows]
    emit(read_your_writes_record(rows, clients, time.monotonic() - started))


def write_then_read(session: Any, label: str) -> dict[str, Any]:
    """One round: post, read the list with the bookmark, then read it without (baseline)."""
    title = f"ryw{label}x{secrets.token_hex(4)}"
    started = time.perf_counter()
    status, _ = session.request("POST", "/posts/new/", {"title": title, "body": "mine"})
    posted = time.perf_counter()
    row: dict[str, Any] = {"post_status": status, "post_s": posted - started}
    row["bookmark"] = session.headers.get("X-Quire-Bookmark")
    if status != 302:
        return row
    status, page = session.request("GET", "/")
    row.update(
        get_status=status,
        read_s=time.perf_counter() - posted,
        served_by=session.headers.get(SERVED_BY, ""),
        stale=status == 200 and title not in page,
    )
    bookmark = session.cookies.pop(BOOKMARK, None)
    seconds, status, served_by, _ = timed_get(session)
    if bookmark is not None:
        session.cookies[BOOKMARK] = bookmark
    row.update(baseline_s=seconds, baseline_ok=status == 200 and served_by == "node-2 replica")
    return row


def read_your_writes_record(
    rows: list[dict[str, Any]], clients: int, seconds: float
) -> dict[str, Any]:
    done = [row for row in rows if row["post_status"] == 302 and row.get("get_status") == 200]
    baseline = [row["baseline_s"] for row in done if row["baseline_ok"]]
    plain = statistics.median(baseline) if baseline else 0.0
    served: dict[str, int] = {}
    for row in done:
        served[row["served_by"]] = served.get(row["served_by"], 0) + 1
    by_replica = [row["read_s"] for row in done if row["served_by"] == "node-2 replica"]
    return {
        "scenario": "read_your_writes",
        "rounds": len(rows),
        "clients": clients,
        "seconds": round(seconds, 1),
        "stale": sum(row["stale"] for row in done),
        "stale_target": 0,
        "failed": len(rows) - len(done),
        "served_by": served,
        "post_forwarded": ms([row["post_s"] for row in rows]),
        "read_after_own_write": ms([row["read_s"] for row in done]),
        "read_after_own_write_on_replica": ms(by_replica),
        "plain_replica_read": ms(baseline),
        "extra_wait": ms([max(0.0, row["read_s"] - plain) for row in done]),
        "extra_wait_is": "read after own write minus the median plain replica read",
    }


# 4. Cost of replicas --------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, int] | None:
    """Return (parent pid, utime + stime in clock ticks) of a process, or None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def children_of(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) and stat[0] == parent:
            pids.append(int(entry.name))
    return pids


def memory_kb(pid: int) -> tuple[int, int | None]:
    """Return (RSS, PSS) of a process in kB; PSS is None where smaps_rollup is unreadable."""
    rss = pss = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        pass
    return rss or 0, pss


def machine_busy() -> tuple[int, int]:
    """Return (busy, total) clock ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def sample_cost(cluster: Cluster, window: float) -> dict[str, Any]:
    """CPU, memory and S3 requests of node-2's followers over a window."""
    assert cluster.supervisor is not None
    followers = children_of(cluster.supervisor.pid)
    watched = {
        "followers": followers,
        "supervisor": [cluster.supervisor.pid],
        "primary_litestream": [cluster.litestream.pid] if cluster.litestream else [],
        "seaweedfs": [cluster.seaweed.pid] if cluster.seaweed else [],
    }
    before = {pid: proc_stat(pid) for pids in watched.values() for pid in pids}
    ours = resource.getrusage(resource.RUSAGE_SELF)
    requests_before = dict(cluster.s3_counter.requests)
    busy_before = machine_busy()
    time.sleep(window)
    busy_after = machine_busy()
    requests = {k: v - requests_before[k] for k, v in cluster.s3_counter.requests.items()}
    after = {pid: proc_stat(pid) for pid in before}
    now = resource.getrusage(resource.RUSAGE_SELF)
    ours_s = now.ru_utime + now.ru_stime - ours.ru_utime - ours.ru_stime
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_percentile(pids: list[int]) -> float:
        used = sum(after[p][1] - before[p][1] for p in pids if before[p] and after[p])
        return round(100 * used / tick / window, 2)

    memory = [memory_kb(pid) for pid in followers]
    cpus = os.cpu_count() or 1
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    return {
        "followers": len(followers),
        "followers_cpu_pct": cpu_percentile(followers),
        "followers_rss_mb": round(sum(rss for rss, _ in memory) / 1024, 1),
        "followers_pss_mb": round(sum(pss or 0 for _, pss in memory) / 1024, 1)
        if all(pss is not None for _, pss in memory)
        else None,
        "supervisor_cpu_pct": cpu_percentile(watched["supervisor"]),
        "supervisor_rss_mb": round(memory_kb(cluster.supervisor.pid)[0] / 1024, 1),
        "s3_requests_per_s": {k: round(v / window, 1) for k, v in requests.items()},
        "primary_litestream_cpu_pct": cpu_percentile(watched["primary_litestream"]),
        "seaweedfs_cpu_pct": cpu_percentile(watched["seaweedfs"]),
        "bench_process_cpu_pct": round(100 * ours_s / window, 2),  # the S3-counting proxy
        "machine_busy_pct": round(100 * busy, 1),
        "machine_saturated": busy >= 0.9,
        "machine_cores": cpus,
    }


class Readers:
    """Read the active workspaces on node-2 at a steady rate, in a thread; count who served."""

    def __init__(self, cluster: Cluster, slugs: list[str], rate: float) -> None:
        self.cluster, self.slugs, self.pause = cluster, slugs, 1 / rate
        self.served: dict[str, dict[str, int]] = {slug: {} for slug in slugs}
        self.first_read: dict[str, float] = {}
        self.first_replica: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="readers")

    def __enter__(self) -> Readers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from tests.crash.conftest import HttpSession

        port = self.cluster.ports["node-2"]
        sessions = {slug: HttpSession(port, f"{slug}.localhost:{port}") for slug in self.slugs}
        due = time.monotonic()
        for n in itertools.count():
            if self._stop.is_set():
                return
            slug = self.slugs[n % len(self.slugs)]
            self.first_read.setdefault(slug, time.monotonic())
            try:
                status, _ = sessions[slug].request("GET", "/login/")
                who = sessions[slug].headers.get(SERVED_BY, "") if status == 200 else str(status)
            except OSError as exc:
                who = type(exc).__name__
            counts = self.served[slug]
            counts[who] = counts.get(who, 0) + 1
            if who == "node-2 replica":
                self.first_replica.setdefault(slug, time.monotonic())
            due += self.pause
            self._stop.wait(max(0.0, due - time.monotonic()))

    def snapshot(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for counts in self.served.values():
            for who, count in counts.items():
                total[who] = total.get(who, 0) + count
        return total

    def all_served_by_replica(self) -> bool:
        return len(self.first_replica) == len(self.slugs)


def measure_cost(
    cluster: Cluster, placements: list[int], active: int, window: float, rate: float
) -> None:
    """Place 10, 100, 1,000 workspaces on node-2, read `active` of them there; measure.

    The placements are backdated (placed long ago): node-2 follows only what it is asked
    to read, so the figures are those of a node holding many placements of which a few
    are being read, as in steady operation.
    """
    cluster.manage("node-1", "replicate_tenant", "acme", "--on", "node-2", "--remove")
    assert cluster.supervisor is not None
    supervisor = cluster.supervisor.pid
    wait_for(lambda: not children_of(supervisor), 60, "node-2 to stop following acme")
    slugs = [f"cost-{n:04d}" for n in range(1, max(placements) + 1)]
    readers = slugs[:active]
    created = 0
    for count in sorted(placements):
        # Only the workspaces placed exist: node-1's Litestream costs what they cost.
        started = time.monotonic()
        cluster.run_child("seed", "--slugs", ",".join(slugs[created:count]), "--create")
        cluster.run_child(
            "seed", "--slugs", ",".join(slugs[created:count]), "--place", "node-2", "--placed-ago"
        )
        log(f"{count} placed on node-2 ({time.monotonic() - started:.0f} s)")
        created = count
        time.sleep(3)  # node-1's Litestream picks new files up by watching the folder
        with Readers(cluster, readers, rate=active) as reading:
            wait_for(reading.all_served_by_replica, 300, f"{active} replicas serving on node-2")
            woken = [reading.first_replica[s] - reading.first_read[s] for s in readers]
            time.sleep(2)
            before = reading.snapshot()
            idle = sample_cost(cluster, window)
            after = reading.snapshot()
            reads = {who: after[who] - before.get(who, 0) for who in after}
            writing = cost_under_writes(cluster, readers, window, rate)
        emit(
            {
                "scenario": "cost",
                "placed": count,
                "read_on_node_2": active,
                "window_s": window,
                "follow_interval": "100ms",
                "wake_s": {
                    "p50": round(statistics.median(woken), 2),
                    "max": round(max(woken), 2),
                    "is": "first read of an idle placement until node-2's replica serves it",
                }
                if count == min(placements)
                else "the same workspaces, awake since the first count",
                "reads_in_window": reads,
                "replication_on_node_2": node_cost(idle),
                "replication_on_node_2_under_writes": node_cost(writing),
                "writes_per_s": rate,
                "idle": idle,
                "writing": writing,
            }
        )


def node_cost(sample: dict[str, Any]) -> dict[str, Any]:
    """What keeping replicas costs node-2: followers and their supervisor together."""
    pss = sample["followers_pss_mb"]
    return {
        "processes": sample["followers"] + 1,
        "followers": sample["followers"],
        "rss_mb": round(sample["followers_rss_mb"] + sample["supervisor_rss_mb"], 1),
        "followers_pss_mb": pss,
        "cpu_pct_of_a_core": round(sample["followers_cpu_pct"] + sample["supervisor_cpu_pct"], 1),
        "supervisor_cpu_pct": sample["supervisor_cpu_pct"],
        "s3_requests_per_s": round(sum(sample["s3_requests_per_s"].values()), 1),
    }


def cost_under_writes(
    cluster: Cluster, slugs: list[str], window: float, rate: float
) -> dict[str, Any]:
    """Sample the followers while a writer spreads `rate` writes/s over the workspaces."""
    out = cluster.work / f"cost-writes-{time.monotonic_ns()}.txt"
    writer = cluster.spawn(
        f"cost-writer-{len(slugs)}",
        writer_command(cluster, slugs, rate, window + 8, out),
        "node-1",
    )
    log_file = cluster.work / f"cost-writer-{len(slugs)}.log"

    def first_write() -> bool:
        if writer.poll() is not None:
            raise RuntimeError(f"the writer exited: {log_file.read_text()[-2000:]}")
        return out.exists() and out.stat().st_size > 0

    wait_for(first_write, 120, "the writer's first write")
    time.sleep(1)
    sample = sample_cost(cluster, window)
    sample["writes_in_window_approx"] = round(rate * window)
    writer.wait(timeout=60)
    return sample


# Child processes: Django as node-1, for seeding and for the write load ---------------


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="replicas.py seed|write|cpu")
    parser.add_argument("mode", choices=CHILD_MODES)
    parser.add_argument("--slugs", required=True)
    parser.add_argument("--create", action="store_true")
    parser.add_argument("--posts", type=int, default=0)
    parser.add_argument("--place", default="")
    parser.add_argument("--placed-ago", action="store_true", help="placed a day ago")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default="")
    parser.add_argument("--cookies", default="")
    parser.add_argument("--host", default="")
    parser.add_argument("--primary-dir", default="")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    slugs = args.slugs.split(",")
    if args.mode == "seed":
        seed(slugs, create=args.create, posts=args.posts, place=args.place, ago=args.placed_ago)
    elif args.mode == "cpu":
        record = page_cpu(
            slugs[0], args.cookies, args.host, args.primary_dir, args.rounds, args.requests
        )
        Path(args.out).write_text(json.dumps(record))
    else:
        write(slugs, rate=args.rate, seconds=args.seconds, out=Path(args.out))


def seed(slugs: list[str], *, create: bool, posts: int, place: str, ago: bool = False) -> None:
    """Create workspaces (fast password hashing), write posts, place replicas."""
    from datetime import timedelta

    from django.test.utils import override_settings
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.posts.services import post_create
    from apps.tenancy.fleet.selectors import tenant_get
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.models import ReplicaPlacement
    from apps.tenancy.nodes.replicas import tenant_replica_place
    from apps.tenancy.routing.context import tenant_context

    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    for slug in slugs:
        if create:
            with fast:
                tenant_create(
                    slug=slug, name=slug, admin_email=f"boss@{slug}.example", admin_password="pw"
                )
        tenant = tenant_get(slug=slug)
        assert tenant is not None, slug
        if posts:
            with tenant_context(tenant):
                author = User.objects.order_by("pk").first()
                assert author is not None
                for n in range(posts):
                    post_create(author=author, title=f"Seeded post {n}", body=POST_BODY)
        if place:
            placement = tenant_replica_place(tenant=tenant, node=place)
            if ago:
                day_ago = timezone.now() - timedelta(days=1)
                ReplicaPlacement.objects.filter(pk=placement.pk).update(placed_at=day_ago)


def write(slugs: list[str], *, rate: float, seconds: float, out: Path) -> None:
    """Write posts round-robin at a steady rate; log each commit's position and time."""
    from apps.accounts.models import User
    from apps.posts.services import post_create
    from apps.tenancy.fleet.selectors import tenant_get
    from apps.tenancy.routing.context import tenant_context
    from apps.tenancy.routing.databases import database_path

    tenants = [tenant_get(slug=slug) for slug in slugs]
    authors: dict[str, Any] = {}
    pause = 1 / rate
    due = time.monotonic()
    end = due + seconds
    with open(out, "w") as output:
        for n in itertools.count():
            if due >= end:
                break
            tenant = tenants[n % len(tenants)]
            assert tenant is not None
            with tenant_context(tenant):
                author = authors.get(tenant.slug) or User.objects.order_by("pk").first()
                authors[tenant.slug] = author
                post_create(author=author, title=f"load {n}", body="steady write load")
            committed = time.monotonic()
            position = primary_position(database_path(tenant.slug))
            output.write(f"{tenant.slug} {position} {committed:.6f}\n")
            output.flush()
            due += pause
            time.sleep(max(0.0, due - time.monotonic()))


def primary_position(path: Path) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(connection.execute("SELECT position FROM quire_commit_position").fetchone()[0])
    finally:
        connection.close()


# Main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay-ms", type=float, default=50, help="each way between nodes")
    parser.add_argument("--read-rounds", type=int, default=5)
    parser.add_argument("--read-requests", type=int, default=30, help="per kind and round")
    parser.add_argument("--cpu-rounds", type=int, default=20)
    parser.add_argument("--cpu-requests", type=int, default=20, help="per kind and round")
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--write-rate", type=float, default=15, help="writes/s for the lag")
    parser.add_argument("--rounds", type=int, default=1000, help="read-your-writes rounds")
    parser.add_argument("--clients", type=int, default=4, help="read-your-writes clients")
    parser.add_argument("--placements", default="10,100,1000", help="comma-separated counts")
    parser.add_argument("--active", type=int, default=10, help="workspaces read on node-2")
    parser.add_argument("--cost-seconds", type=float, default=10)
    parser.add_argument("--cost-write-rate", type=float, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args()


def interrupted(signum: int, frame: object) -> None:
    """Turn SIGTERM into KeyboardInterrupt, so every process started is stopped."""
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    placements = [int(n) for n in args.placements.split(",") if n]
    signal.signal(signal.SIGTERM, interrupted)
    work = Path(tempfile.mkdtemp(prefix="quire-bench-replicas-"))
    cluster = Cluster(work, args.delay_ms / 1000)
    try:
        started = time.monotonic()
        cluster.start()
        create = ("--name", "Acme", "--admin-email", "boss@acme.example")
        cluster.manage("node-1", "create_tenant", "acme", *create, "--admin-password", PASSWORD)
        twin = ("--name", "Twin", "--admin-email", "boss@twin.example")
        cluster.manage("node-1", "create_tenant", "twin", *twin, "--admin-password", PASSWORD)
        cluster.run_child("seed", "--slugs", "acme,twin", "--posts", "30")
        cluster.manage("node-1", "replicate_tenant", "acme", "--on", "node-2")
        wait_for(cluster.replica("acme").is_file, 120, "node-2's replica of acme")
        log(f"two nodes up, acme followed on node-2 ({time.monotonic() - started:.0f} s)")
        measure_read_latency(cluster, args.read_rounds, args.read_requests)
        log("read latency done")
        measure_page_cpu(cluster, args.cpu_rounds, args.cpu_requests)
        log("page CPU done")
        measure_lag(cluster, args.write_rate, args.lag_seconds, poll=0.005)
        log("lag done")
        measure_read_your_writes(cluster, args.rounds, args.clients)
        log("read-your-writes done")
        if placements:  # --placements "" leaves the cost out
            measure_cost(cluster, placements, args.active, args.cost_seconds, args.cost_write_rate)
        log(f"all done in {time.monotonic() - started:.0f} s")
    finally:
        cluster.stop()
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    if len(sys.argv) > 1 and sys.argv[1] in CHILD_MODES:
        child_main(sys.argv[1:])
    else:
        main()
