"""SQL over HTTP: Quire's libSQL endpoint against Datasette's JSON API, and the HTTP tax.

    .venv/bin/pip install -e '.[bench]'     # Datasette
    make client-packages                    # @libsql/client for Node (make test does it)
    .venv/bin/python bench/sqlapi.py [--rounds 7] [--statements 300] [--posts 400]
                                     [--worker-class gthread|sync]

One workspace ("bench", --posts posts made by the app's own post_create) served two ways
from the same file on this machine, one process each so that neither gets more cores:
Quire under gunicorn (1 gthread worker, 4 threads, production settings, no access log;
``--worker-class sync``: 1 sync worker, which answers on the thread that reads the call)
and Datasette 0.65 under uvicorn (1 process, its default 3 SQL threads, no access log).
Node runs the clients: @libsql/client over HTTP with the URL and token `db_token` prints,
and fetch() on Datasette's `/<db>.json?sql=...&_shape=array`, parsing the JSON. Each
client sends one statement at a time.

The floor: the same gunicorn configuration serving bench/sqlapi_floor.py, which answers
each call with a recorded Quire reply and does nothing else. @libsql/client against it
is the most any Python application behind this gunicorn could reach here: the part of
a statement's time that is the client, the HTTP server and the machine.

Statements, the same SQL for everyone:
- point:  one post by id (random ids, the same ones for both servers in a round);
- rows20: twenty posts from a random id on;
- in-process: the same statements with Python's sqlite3 on the file, and with
  @libsql/client on a file: URL (libSQL's native driver), no HTTP: the HTTP tax;
- batch: 100 INSERTs of posts in one request (`client.batch(..., "write")`, one
  transaction; the app's render triggers run per row): rows/s.

Rounds interleave every target in a rotating order; figures are medians over rounds.
Server CPU per statement comes from /proc (utime + stime of the server's processes).
In-process server CPU: a child process with the production settings calls the WSGI
application gunicorn serves (config.wsgi: the SQL API's own door, apps.sqlapi.gateway)
and Django's application behind it (the same endpoint through Django's request
handling, as under ASGI) with the client's request bodies, interleaved, and measures
process CPU per statement: no HTTP server, no client, no other process.
Prints one JSON line per target and per comparison, then a table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import ROOT, emit

CLIENTS = ROOT / "tests" / "clients"
DRIVER = Path(__file__).with_name("sqlapi.mjs")
SLUG = "bench"
SQL = {
    "point": "SELECT id, title, excerpt, created_at FROM posts_post WHERE id = ?",
    "rows20": "SELECT id, title, excerpt, created_at FROM posts_post WHERE id >= ? "
    "ORDER BY id LIMIT 20",
    "insert": "INSERT INTO posts_post (title, body, author_id, created_at, body_html, excerpt) "
    "VALUES (?, ?, ?, datetime('now'), '', '')",
}
SEED = """
from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.fleet.selectors import tenant_get
from apps.tenancy.routing.work import atomic
with tenant_context(tenant_get(slug="bench")), atomic():
    author = User.objects.get()
    for n in range({posts}):
        post_create(author=author, title=f"Post {{n}}", body=f"Body of post **{{n}}**, "
                    "with a [link](https://example.com) and some words to excerpt." * 3)
    print(author.pk)
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process in a process group, from /proc."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def wait_for(url: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} stopped (exit {process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (our own loopback server)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not answer at {url}")


class Bench:
    def __init__(self, work: Path, posts: int, worker_class: str = "gthread") -> None:
        self.work = work
        self.quire_port, self.datasette_port, self.floor_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_SECURE_HSTS_SECONDS": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
            "TENANTS_DATA_DIR": str(work / "tenants"),
            "DJANGO_CACHE_DIR": str(work / "cache"),
            "QUIRE_URL_SCHEME": "http",
            "QUIRE_URL_PORT": str(self.quire_port),
            "GUNICORN_BIND": f"127.0.0.1:{self.quire_port}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_WORKER_CLASS": worker_class,
            "GUNICORN_THREADS": "4" if worker_class == "gthread" else "1",
            "GUNICORN_ACCESS_LOG": "",
        }
        self.file = work / "tenants" / f"{SLUG}.sqlite3"
        self.processes: list[subprocess.Popen] = []
        self.manage("migrate", "--no-input")
        self.manage(
            "create_tenant", SLUG, "--name", "Bench", "--admin-email", "admin@bench.example",
            "--admin-password", secrets.token_urlsafe(16),
        )  # fmt: skip
        self.author = int(self.manage("shell", "-c", SEED.format(posts=posts)).split()[-1])
        self.posts = posts
        access = json.loads(self.manage("db_token", SLUG, "--json", "--name", "bench"))
        self.url, self.token = access["path_url"], access["token"]  # Node has no *.localhost

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            sys.exit(f"manage.py {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    def spawn(self, *command: str, **env: str) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env | env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(self.work / "servers.log", "a"),  # noqa: SIM115
        )  # fmt: skip
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.quire = self.spawn(
            sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"
        )
        wait_for(f"http://127.0.0.1:{self.quire_port}/healthz", self.quire, "gunicorn")
        replies = self.work / "floor-replies.json"
        replies.write_text(json.dumps({op: self.ask(op, 1) for op in ("point", "rows20")}))
        self.floor = self.spawn(
            sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
            "bench.sqlapi_floor:application",
            GUNICORN_BIND=f"127.0.0.1:{self.floor_port}", SQLAPI_FLOOR_REPLIES=str(replies),
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{self.floor_port}/", self.floor, "the floor's gunicorn")
        datasette = (
            "import sys, uvicorn\n"
            "from datasette.app import Datasette\n"
            "app = Datasette([sys.argv[1]]).app()\n"
            "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[2]), access_log=False,"
            " log_level='warning')\n"
        )
        self.datasette = self.spawn(
            sys.executable, "-c", datasette, str(self.file), str(self.datasette_port)
        )
        wait_for(f"http://127.0.0.1:{self.datasette_port}/-/versions.json", self.datasette,
                 "datasette")  # fmt: skip
        config = {
            "url": self.url,
            "floor": f"http://127.0.0.1:{self.floor_port}/db/{SLUG}/",
            "token": self.token,
            "file": str(self.file),
            "datasette": f"http://127.0.0.1:{self.datasette_port}/{SLUG}.json",
            "sql": SQL,
        }
        self.driver = subprocess.Popen(
            ["node", "--dns-result-order=ipv4first", str(DRIVER), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def ask(self, op: str, id_: int) -> str:
        """Return Quire's answer to one statement as @libsql/client sends it."""
        request = urllib.request.Request(  # noqa: S310 (our own loopback server)
            f"{self.url}v2/pipeline",
            data=json.dumps(pipeline_body(op, id_)).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return str(answer.read().decode())

    def node(self, command: dict) -> float:
        assert self.driver.stdin and self.driver.stdout
        self.driver.stdin.write(json.dumps(command) + "\n")
        self.driver.stdin.flush()
        answer = self.driver.stdout.readline()
        if not answer:
            sys.exit(f"the Node driver stopped (exit {self.driver.wait()})")
        return float(json.loads(answer)["seconds"])

    def stop(self) -> None:
        if getattr(self, "driver", None) and self.driver.poll() is None:
            assert self.driver.stdin
            self.driver.stdin.close()
            self.driver.wait(timeout=10)
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def pipeline_body(op: str, id_: int) -> dict[str, Any]:
    """Return the body @libsql/client 0.18 sends for client.execute(SQL[op], [id])."""
    stmt = {
        "sql": SQL[op],
        "args": [{"type": "integer", "value": str(id_)}],
        "named_args": [],
        "want_rows": True,
    }
    return {"baton": None, "requests": [{"type": "execute", "stmt": stmt}, {"type": "close"}]}


def in_process(path: Path, op: str, ids: list[int]) -> float:
    """The same statements with Python's sqlite3 on the file: no HTTP, no protocol."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        started = time.perf_counter()
        for id_ in ids:
            connection.execute(SQL[op], (id_,)).fetchall()
        return time.perf_counter() - started
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--statements", type=int, default=300, help="per target and round")
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--batches", type=int, default=5, help="100-row batches per round")
    parser.add_argument(
        "--worker-class", choices=("gthread", "sync"), default="gthread",
        help="gunicorn's worker for Quire and the floor (default: production's gthread)",
    )  # fmt: skip
    parser.add_argument("--in-process-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process_child:
        in_process_child(json.loads(args.in_process_child))
        return
    if not (CLIENTS / "node_modules" / "@libsql" / "client").exists() or not shutil.which("node"):
        sys.exit("Node and @libsql/client are needed: run make client-packages")
    try:
        import datasette  # noqa: F401
    except ImportError:
        sys.exit("Datasette is needed: .venv/bin/pip install -e '.[bench]'")

    work = Path(tempfile.mkdtemp(prefix="quire-bench-sqlapi-"))
    bench = Bench(work, args.posts, args.worker_class)
    try:
        bench.start()
        results = measure(bench, args)
        results |= in_process_doors(bench, args)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(results, args)


def measure(bench: Bench, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    rng = random.Random(13)
    servers = {"quire": bench.quire.pid, "datasette": bench.datasette.pid,
               "floor": bench.floor.pid}  # fmt: skip
    targets = [(target, op) for op in ("point", "rows20") for target in
               ("quire", "datasette", "floor", "file", "python")]  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {}

    def ids(op: str, count: int) -> list[int]:
        top = bench.posts - (20 if op == "rows20" else 0)
        return [rng.randint(1, top) for _ in range(count)]

    for target, op in targets:  # warm up every path
        command = {"target": target, "op": op, "ids": ids(op, 50)}
        in_process(bench.file, op, command["ids"]) if target == "python" else bench.node(command)
    for round_ in range(args.rounds):
        shift = round_ % len(targets)
        for target, op in targets[shift:] + targets[:shift]:
            batch = ids(op, args.statements)
            cpu_before = group_cpu_seconds(servers[target]) if target in servers else 0.0
            if target == "python":
                seconds = in_process(bench.file, op, batch)
            else:
                seconds = bench.node({"target": target, "op": op, "ids": batch})
            cpu = group_cpu_seconds(servers[target]) - cpu_before if target in servers else 0
            results.setdefault(f"{target}:{op}", []).append(
                {"per_s": len(batch) / seconds, "cpu_ms": cpu * 1000 / len(batch)}
            )
        titles = [[f"Batch {round_}.{b}.{n}" for n in range(100)] for b in range(args.batches)]
        cpu_before = group_cpu_seconds(servers["quire"])
        seconds = bench.node({"target": "quire", "op": "batch", "batches": titles,
                              "author": bench.author})  # fmt: skip
        cpu = group_cpu_seconds(servers["quire"]) - cpu_before
        rows = 100 * args.batches
        results.setdefault("quire:batch100", []).append(
            {"per_s": rows / seconds, "cpu_ms": cpu * 1000 / rows}
        )
    with sqlite3.connect(bench.file) as raw:  # every batched row is there, rendered
        count, unrendered = raw.execute(
            "SELECT count(*), sum(body_html = '') FROM posts_post WHERE title LIKE 'Batch %'"
        ).fetchone()
    assert count == 100 * args.batches * args.rounds and not unrendered, (count, unrendered)
    return results


def in_process_doors(bench: Bench, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Return the server CPU of a statement in-process, per door and statement, by round."""
    config = {"url": bench.url, "token": bench.token, "posts": bench.posts,
              "rounds": args.rounds, "statements": args.statements}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--in-process-child", json.dumps(config)],
        cwd=ROOT, env=bench.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"the in-process measure failed:\n{done.stderr[-2000:]}")
    by_round = json.loads(done.stdout.splitlines()[-1])
    return {key: [{"per_s": 1e6 / us, "cpu_ms": us / 1000} for us in runs]
            for key, runs in by_round.items()}  # fmt: skip


def in_process_child(config: dict[str, Any]) -> None:
    """Call both doors of the endpoint in this process; print CPU µs a statement by round."""
    from urllib.parse import urlsplit

    sys.path.insert(0, str(ROOT))
    from config.wsgi import application, django_application

    doors = {"gateway": application, "django": django_application}
    url = urlsplit(config["url"])
    rng = random.Random(17)

    def call(door: str, body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": f"{url.path}v2/pipeline", "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(url.port),
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": url.netloc, "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "HTTP_AUTHORIZATION": f"Bearer {config['token']}", "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }  # fmt: skip
        status: list[str] = []
        chunks = doors[door](environ, lambda line, headers, exc_info=None: status.append(line))
        try:
            b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        if not status[0].startswith("200"):
            sys.exit(f"{door} answered {status[0]}")

    def bodies(op: str, count: int) -> list[bytes]:
        top = config["posts"] - (20 if op == "rows20" else 0)
        return [json.dumps(pipeline_body(op, rng.randint(1, top))).encode() for _ in range(count)]

    pairs = [(door, op) for op in ("point", "rows20") for door in doors]
    for door, op in pairs:  # warm up
        for body in bodies(op, 100):
            call(door, body)
    results: dict[str, list[float]] = {}
    for round_ in range(config["rounds"]):
        shift = round_ % len(pairs)
        for door, op in pairs[shift:] + pairs[:shift]:
            batch = bodies(op, config["statements"])
            started = time.process_time()
            for body in batch:
                call(door, body)
            cpu = time.process_time() - started
            results.setdefault(f"{door}:{op}", []).append(cpu * 1e6 / len(batch))
    print(json.dumps(results))


NAMES = {
    "quire": "Quire, @libsql/client over HTTP",
    "datasette": "Datasette JSON API, fetch()",
    "floor": "floor: gunicorn, a recorded reply",
    "file": "@libsql/client, file: URL, in-process",
    "python": "Python sqlite3, in-process",
}


SERVED = ("quire", "datasette", "floor", "gateway", "django")  # targets with a server CPU


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    median = {
        key: {field: statistics.median(r[field] for r in runs) for field in ("per_s", "cpu_ms")}
        for key, runs in results.items()
    }
    for key, figures in median.items():
        target, op = key.split(":")
        emit({
            "bench": "sqlapi", "target": target, "op": op,
            "per_s": round(figures["per_s"]),
            "us_per_statement": round(1e6 / figures["per_s"], 1),
            "server_cpu_ms_per_statement": round(figures["cpu_ms"], 3)
            if target in SERVED else None,
            "rounds": args.rounds, "worker_class": args.worker_class,
        })  # fmt: skip
    comparisons = {}
    for op in ("point", "rows20"):
        quire, ds, floor, py = (
            median[f"{t}:{op}"] for t in ("quire", "datasette", "floor", "python")
        )
        gateway, django = median[f"gateway:{op}"], median[f"django:{op}"]
        comparisons[op] = {
            "quire_vs_datasette": round(quire["per_s"] / ds["per_s"], 2),
            "server_cpu_quire_over_datasette": round(quire["cpu_ms"] / ds["cpu_ms"], 2)
            if ds["cpu_ms"]
            else None,
            # the most a Python application behind this gunicorn reaches against Datasette
            "floor_vs_datasette": round(floor["per_s"] / ds["per_s"], 2),
            # what one statement costs over HTTP beyond running it in-process
            "http_tax_us": round(1e6 / quire["per_s"] - 1e6 / py["per_s"], 1),
            "http_tax_server_cpu_us": round(quire["cpu_ms"] * 1000 - 1e6 / py["per_s"], 1),
            "in_process_cpu_us_gateway": round(gateway["cpu_ms"] * 1000, 1),
            "in_process_cpu_us_django": round(django["cpu_ms"] * 1000, 1),
        }
        emit({"bench": "sqlapi", "op": op, **comparisons[op]})

    print()
    print(f"gunicorn worker: {args.worker_class}")
    print(f"{'':42} {'statements/s':>13} {'µs each':>9} {'server CPU ms':>14}")
    for op in ("point", "rows20"):
        print(f"{op} SELECT" if op == "point" else "20-row SELECT")
        for target in ("quire", "datasette", "floor", "file", "python"):
            figures = median[f"{target}:{op}"]
            cpu = f"{figures['cpu_ms']:.3f}" if target in SERVED else ""
            print(f"  {NAMES[target]:40} {figures['per_s']:13,.0f} "
                  f"{1e6 / figures['per_s']:9.0f} {cpu:>14}")  # fmt: skip
        c = comparisons[op]
        print(
            f"  Quire / Datasette: {c['quire_vs_datasette']:.2f}x statements/s, "
            f"{c['server_cpu_quire_over_datasette']}x the server CPU a statement; "
            f"the floor reaches {c['floor_vs_datasette']:.2f}x"
        )
        print(f"  HTTP tax over Python in-process: {c['http_tax_us']:,.0f} µs a statement "
              f"({c['http_tax_server_cpu_us']:,.0f} µs of it server CPU)")  # fmt: skip
        print(f"  server CPU in-process, no HTTP server: {c['in_process_cpu_us_gateway']:,.0f} µs "
              f"through the SQL API's door, {c['in_process_cpu_us_django']:,.0f} µs through "
              "Django's request handling")  # fmt: skip
    batch = median["quire:batch100"]
    print(f"batch of 100 INSERTs in one request: {batch['per_s']:,.0f} rows/s "
          f"({batch['cpu_ms']:.3f} server CPU ms a row)")  # fmt: skip


if __name__ == "__main__":
    main()
