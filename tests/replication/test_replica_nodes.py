"""Three nodes on 127.0.0.1, one region each: reads served near the user, never stale.

node-1 is acme's primary; node-2 and node-3 hold read replicas kept by their replica
supervisors. Then acme moves to node-2 and node-1 takes a replica. The catalog is a
shared PostgreSQL; replicas travel through SeaweedFS; nginx listens on one port per
region (standing in for geo-DNS) and sends it to that region's node.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.crash.conftest import PASSWORD, HttpSession, Quire, free_port, kill_group, wait_until
from tests.replication.postgres import postgres_cluster
from tests.replication.test_two_nodes import Node, Proxy, answers, node_env

ROUNDS = 40
TIGHT = {
    "QUIRE_REPLICA_MONITOR_INTERVAL": "100ms",
    "QUIRE_REPLICA_SYNC_INTERVAL": "100ms",
    "QUIRE_REPLICA_FOLLOW_INTERVAL": "100ms",
    "QUIRE_REPLICA_SUPERVISE_SECONDS": "0.2",
}


@pytest.fixture
def quire(tmp_path: Path) -> Iterator[Quire]:
    with postgres_cluster() as catalog:
        installation = Quire(
            tmp_path, DATABASE_URL=catalog, DJANGO_CACHE_DIR=str(tmp_path / "cache")
        )
        try:
            yield installation
        finally:
            installation.stop()


def start_nodes(quire: Quire, s3_endpoint: str) -> dict[str, Node]:
    """Start three nodes; acme lives on node-1 with replicas on node-2 and node-3."""
    ports = {name: free_port() for name in ("node-1", "node-2", "node-3")}
    nodes_setting = ",".join(f"{name}=127.0.0.1:{port}" for name, port in ports.items())
    secret, prefix = secrets.token_urlsafe(50), f"replica-nodes-{os.getpid()}"
    nodes = {
        name: Node(
            quire,
            name,
            {**node_env(name, port, nodes_setting, s3_endpoint, prefix, secret), **TIGHT},
        )
        for name, port in ports.items()
    }
    one = nodes["node-1"]
    one.manage("migrate", "--no-input")
    one.manage("collectstatic", "--no-input", "-v0")
    for node in nodes.values():
        node.start()  # its Litestream and gunicorn, in that order
        node.processes = quire.processes[-2:]
    create = ("--name", "Acme", "--admin-email", "boss@acme.example")
    one.manage("create_tenant", "acme", *create, "--admin-password", PASSWORD)
    one.manage("replicate_tenant", "acme", "--on", "node-2", "--on", "node-3")
    for node in nodes.values():
        node.processes.append(quire.start("manage.py", "replica_supervisor", **node.env))
    return nodes


def start_regions(quire: Quire, nodes: dict[str, Node]) -> dict[str, int]:
    """Run nginx with one listening port per region, each sent to its region's node."""
    folder = quire.folder / "nginx"
    folder.mkdir()
    regions = {name: free_port() for name in nodes}
    proxy = Proxy(folder, regions["node-1"])
    proxy.routes.write_text(
        "".join(
            f"server {{ listen 127.0.0.1:{regions[name]}; location / {{ "
            f"proxy_pass http://127.0.0.1:{node.port}; proxy_set_header Host $http_host; "
            "proxy_set_header X-Forwarded-For $remote_addr; } }\n"
            for name, node in nodes.items()
        )
    )
    proxy.start(quire)
    for port in regions.values():
        wait_until(lambda port=port: answers(port), what="nginx to answer")
    return regions


def replica_ready(node: Node) -> Callable[[], bool]:
    return (Path(node.env["TENANTS_DATA_DIR"]) / ".replicas" / "acme.sqlite3").exists


def test_each_region_reads_its_replica_sees_its_own_writes_across_a_move_and_outlives_the_primary(
    quire: Quire, s3_endpoint: str
):
    nodes = start_nodes(quire, s3_endpoint)
    regions = start_regions(quire, nodes)
    for name in ("node-2", "node-3"):
        wait_until(replica_ready(nodes[name]), timeout=60, what=f"{name}'s replica of acme")
    port = regions["node-3"]
    client = HttpSession(port, f"acme.localhost:{port}")  # a user near node-3
    client.sign_in("boss@acme.example", PASSWORD)  # the POST is served by node-1
    served_by = [write_then_read(client, f"mine-{n}", "node-1 primary") for n in range(ROUNDS)]
    assert served_by.count("node-3 replica") >= ROUNDS * 3 // 4, served_by

    # acme moves to node-2 (its replica there ends); node-1 takes a replica instead.
    nodes["node-1"].manage("move_tenant", "acme", "--to", "node-2")
    nodes["node-2"].manage("replicate_tenant", "acme", "--on", "node-1")
    wait_until(lambda: not replica_ready(nodes["node-2"])(), what="node-2's replica to go")
    served_by = [write_then_read(client, f"moved-{n}", "node-2 primary") for n in range(ROUNDS)]
    assert served_by.count("node-3 replica") >= ROUNDS // 2, served_by
    assert served_by[-5:] == ["node-3 replica"] * 5, served_by  # it follows node-2 now
    wait_until(replica_ready(nodes["node-1"]), timeout=60, what="node-1's replica of acme")

    primary = nodes["node-2"].processes[1]  # its gunicorn
    reads = read_while(regions, ("node-1", "node-3"), lambda: kill_group(primary))
    for name in ("node-1", "node-3"):
        assert reads[name] and set(reads[name]) == {(200, f"{name} replica")}, reads[name]
    status, page = client.request("POST", "/posts/new/", {"title": "while down", "body": "x"})
    assert status == 503
    assert client.headers.get("Retry-After")
    assert "Read-only for the moment" in page


def write_then_read(client: HttpSession, title: str, primary: str) -> str:
    """Post (the primary answers), read the list at once: it has the post; who served it."""
    client.request("GET", "/posts/new/")
    status, _ = client.request("POST", "/posts/new/", {"title": title, "body": "x"})
    assert status == 302, title
    assert client.headers["X-Quire-Served-By"] == primary
    assert "quire_bookmark" in client.cookies
    status, page = client.request("GET", "/")
    assert status == 200
    assert title in page, (
        f"the read after {title!r} did not show it: {client.headers}, {client.cookies}"
    )
    return client.headers["X-Quire-Served-By"]


def read_while(
    regions: dict[str, int], names: tuple[str, ...], action: Callable[[], None]
) -> dict[str, list[tuple[int, str]]]:
    """Read the sign-in page in some regions, without a bookmark, around an action."""
    seen: dict[str, list[tuple[int, str]]] = {name: [] for name in names}
    done = threading.Event()

    def read(name: str) -> None:
        reader = HttpSession(regions[name], f"acme.localhost:{regions[name]}")
        while not done.is_set() or len(seen[name]) < 20:
            status, _ = reader.request("GET", "/login/")
            seen[name].append((status, reader.headers.get("X-Quire-Served-By", "")))

    threads = [threading.Thread(target=read, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: all(len(seen[name]) >= 5 for name in names), what="reads before")
        action()
        counts = {name: len(seen[name]) for name in names}
        wait_until(
            lambda: all(len(seen[name]) >= counts[name] + 10 for name in names),
            what="reads after",
        )
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return seen
