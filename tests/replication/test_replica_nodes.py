"""A primary and a replica node on 127.0.0.1: reads served near the user, never stale."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.crash.conftest import PASSWORD, HttpSession, Quire, free_port, kill_group, wait_until
from tests.replication.test_two_nodes import Node, node_env

ROUNDS = 40


@pytest.fixture
def quire(tmp_path: Path) -> Iterator[Quire]:
    installation = Quire(tmp_path, DJANGO_CACHE_DIR=str(tmp_path / "cache"))
    try:
        yield installation
    finally:
        installation.stop()


def start_nodes(quire: Quire, s3_endpoint: str) -> tuple[Node, Node]:
    """node-1 serves acme (the primary); node-2 holds a replica kept by its supervisor."""
    ports = {"node-1": free_port(), "node-2": free_port()}
    nodes_setting = ",".join(f"{name}=127.0.0.1:{port}" for name, port in ports.items())
    secret, prefix = secrets.token_urlsafe(50), f"replica-nodes-{os.getpid()}"
    tight = {
        "QUIRE_REPLICA_MONITOR_INTERVAL": "100ms",
        "QUIRE_REPLICA_SYNC_INTERVAL": "100ms",
        "QUIRE_REPLICA_FOLLOW_INTERVAL": "100ms",
        "QUIRE_REPLICA_SUPERVISE_SECONDS": "0.2",
    }
    one, two = (
        Node(
            quire,
            name,
            {**node_env(name, port, nodes_setting, s3_endpoint, prefix, secret), **tight},
        )
        for name, port in ports.items()
    )
    one.manage("migrate", "--no-input")
    one.manage("collectstatic", "--no-input", "-v0")
    one.start()  # its Litestream and gunicorn, in that order
    one.processes = quire.processes[-2:]
    two.start()
    create = ("--name", "Acme", "--admin-email", "boss@acme.example")
    one.manage("create_tenant", "acme", *create, "--admin-password", PASSWORD)
    one.manage("replicate_tenant", "acme", "--on", "node-2")
    quire.start("manage.py", "replica_supervisor", **two.env)
    return one, two


def test_reads_on_the_replica_node_see_ones_own_writes_and_outlive_the_primary(
    quire: Quire, s3_endpoint: str
):
    one, two = start_nodes(quire, s3_endpoint)
    replica = Path(two.env["TENANTS_DATA_DIR"]) / ".replicas" / "acme.sqlite3"
    wait_until(replica.exists, timeout=60, what="node-2's replica of acme")
    client = HttpSession(two.port, f"acme.localhost:{two.port}")
    client.sign_in("boss@acme.example", PASSWORD)  # the POST is served by node-1
    served_by = []
    for n in range(ROUNDS):
        client.request("GET", "/posts/new/")
        status, _ = client.request("POST", "/posts/new/", {"title": f"mine-{n}", "body": "x"})
        assert status == 302
        assert client.headers["X-Quire-Served-By"] == "node-1 primary"
        assert "quire_bookmark" in client.cookies
        status, page = client.request("GET", "/")
        assert status == 200
        assert f"mine-{n}" in page, f"read {n} did not show the reader's own write"
        served_by.append(client.headers["X-Quire-Served-By"])
    assert served_by.count("node-2 replica") >= ROUNDS * 3 // 4, served_by

    reads = read_while(two, lambda: kill_group(one.processes[1]))  # the primary dies
    assert reads and set(reads) == {(200, "node-2 replica")}, reads
    status, page = client.request("POST", "/posts/new/", {"title": "while down", "body": "x"})
    assert status == 503
    assert client.headers.get("Retry-After")
    assert "Read-only for the moment" in page


def read_while(node: Node, action: Callable[[], None]) -> list[tuple[int, str]]:
    """Read the sign-in page on a node without a bookmark, before, during and after action."""
    reader = HttpSession(node.port, f"acme.localhost:{node.port}")
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set() or len(seen) < 20:
            status, _ = reader.request("GET", "/login/")
            seen.append((status, reader.headers.get("X-Quire-Served-By", "")))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        wait_until(lambda: len(seen) >= 5, what="reads before")
        action()
        count = len(seen)
        wait_until(lambda: len(seen) >= count + 10, what="reads after")
    finally:
        done.set()
        thread.join()
    return seen
