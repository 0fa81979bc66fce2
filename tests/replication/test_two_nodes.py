"""Two app nodes behind nginx on 127.0.0.1: a workspace moves under a steady write load."""

from __future__ import annotations

import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.conftest import PASSWORD, HttpSession, Quire, free_port, wait_until
from tests.replication.conftest import ACCESS_KEY, BUCKET, SECRET_KEY

NGINX = "/usr/sbin/nginx"


def node_env(name: str, port: int, nodes: str, s3: str, prefix: str, secret: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "QUIRE_NODE_ID": name,
        "QUIRE_NODES": nodes,
        "QUIRE_REPLICATION": "true",
        "QUIRE_REPLICA_TYPE": "s3",
        "QUIRE_REPLICA_SYNC_INTERVAL": "200ms",
        "QUIRE_S3_ENDPOINT": s3,
        "QUIRE_S3_BUCKET": BUCKET,
        "QUIRE_S3_PREFIX": prefix,
        "QUIRE_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "QUIRE_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "TENANT_DB_TIMEOUT": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
        "GUNICORN_ACCESS_LOG": "",
    }


class Node:
    """One app node: its own tenants folder, gunicorn and Litestream."""

    def __init__(self, quire: Quire, name: str, env: dict[str, str]) -> None:
        self.quire, self.name, self.env = (
            quire,
            name,
            {**env, "TENANTS_DATA_DIR": str(quire.folder / name)},
        )
        self.port = int(env["GUNICORN_BIND"].rsplit(":", 1)[1])

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.quire.manage(*args, **self.env)

    def start(self) -> None:
        Path(self.env["TENANTS_DATA_DIR"]).mkdir(exist_ok=True)
        config = self.quire.folder / f"{self.name}-litestream.yml"
        self.manage("litestream_config", "-o", str(config))
        litestream = str(Path(sys.executable).with_name("litestream"))
        env = {**self.env, "AWS_CA_BUNDLE": ""}
        self.quire.start_binary(litestream, "replicate", "-config", str(config), **env)
        self.quire.start("-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi", **self.env)
        wait_until(lambda: answers(self.port), what=f"{self.name} to answer")

    def database(self, slug: str) -> Path:
        return Path(self.env["TENANTS_DATA_DIR"]) / f"{slug}.sqlite3"


def answers(port: int) -> bool:
    try:
        return HttpSession(port, "localhost").request("GET", "/healthz")[0] == 200
    except OSError:
        return False


class Proxy:
    """nginx on 127.0.0.1 with the routing that proxy_config generates."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.routes = folder / "quire.conf"
        temp = " ".join(
            f"{kind}_temp_path {folder / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user} worker_processes 1; daemon off; pid {folder / 'nginx.pid'};"
            f" error_log {folder / 'error.log'};\n"
            f"events {{}}\nhttp {{ access_log off; {temp} include {self.routes}; }}\n"
        )

    def write_routes(self, node: Node) -> None:
        node.manage("proxy_config", "--listen", f"127.0.0.1:{self.port}", "-o", str(self.routes))

    def start(self, quire: Quire) -> None:
        self.process = quire.start_binary(
            NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf")
        )
        wait_until(lambda: answers(self.port), what="nginx to answer")

    def reload(self) -> None:
        self.process.send_signal(signal.SIGHUP)


@pytest.fixture
def quire(tmp_path: Path) -> Iterator[Quire]:
    """An installation for both nodes; every process it starts is killed at the end."""
    installation = Quire(tmp_path, DJANGO_CACHE_DIR=str(tmp_path / "cache"))
    try:
        yield installation
    finally:
        installation.stop()


def test_a_workspace_moves_between_nodes_under_write_load(
    quire: Quire, s3_endpoint: str, tmp_path: Path
):
    ports = {"node-1": free_port(), "node-2": free_port()}
    nodes_setting = ",".join(f"{name}=127.0.0.1:{port}" for name, port in ports.items())
    secret, prefix = secrets.token_urlsafe(50), f"two-nodes-{os.getpid()}"
    nodes = {
        name: Node(quire, name, node_env(name, port, nodes_setting, s3_endpoint, prefix, secret))
        for name, port in ports.items()
    }
    one, two = nodes["node-1"], nodes["node-2"]
    one.manage("migrate", "--no-input")
    one.manage("collectstatic", "--no-input", "-v0")
    one.start()
    two.start()
    one.manage(
        "create_tenant",
        "acme",
        "--name",
        "Acme",
        "--admin-email",
        "boss@acme.example",
        "--admin-password",
        PASSWORD,
    )
    proxy = Proxy(tmp_path, free_port())
    proxy.write_routes(one)
    proxy.start(quire)
    client = HttpSession(proxy.port, f"acme.localhost:{proxy.port}")
    wait_until(lambda: client.request("GET", "/login/")[0] == 200, what="acme through the proxy")
    client.sign_in("boss@acme.example", PASSWORD)
    client.request("GET", "/posts/new/")
    acked, retries, stop = [], [], threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            title = f"write-{n}"
            status = _post(client, title)
            if status == 302:
                acked.append(title)
                n += 1
            else:
                retries.append(status)  # 503 while moving: try the same write again
                time.sleep(0.1)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until(lambda: len(acked) >= 20, what="20 writes on node-1")
        moved = one.manage("move_tenant", "acme", "--to", "node-2").stdout
        # The map still names node-1: node-1 forwards each request to node-2.
        after_move = len(acked)
        wait_until(lambda: len(acked) >= after_move + 10, timeout=60, what="10 forwarded writes")
        forwarded = len(acked) - after_move
        proxy.write_routes(one)
        proxy.reload()
        after_reload = len(acked)
        wait_until(lambda: len(acked) >= after_reload + 10, timeout=60, what="10 writes on node-2")
    finally:
        stop.set()
        writer.join()
    quire.stop()  # every write is acknowledged: stop nginx, gunicorn and Litestream

    assert "Moved 'acme' to node-2." in moved
    assert quire.catalog("SELECT home_node FROM tenancy_tenant WHERE slug = 'acme'") == [
        ("node-2",)
    ]
    with sqlite3.connect(two.database("acme")) as raw:
        stored = {title for (title,) in raw.execute("SELECT title FROM posts_post")}
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert set(acked) <= stored, f"lost: {sorted(set(acked) - stored)[:5]}"
    assert not one.database("acme").exists()
    assert set(retries) <= {503}, retries  # only while moving
    assert forwarded >= 10
    paused = float(re.search(r"paused for ([0-9.]+) s", moved).group(1))
    assert paused < 10


def _post(client: HttpSession, title: str) -> int:
    try:
        return client.request("POST", "/posts/new/", {"title": title, "body": "x"})[0]
    except OSError:
        return 0
