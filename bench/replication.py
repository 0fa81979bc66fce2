"""Replication figures against a local S3-compatible server (SeaweedFS on 127.0.0.1).

    .venv/bin/python bench/replication.py [--samples 30] [--size-mb 50]

Prints JSON lines:
  lag      seconds from a commit until the replica holds it, at a 1 s sync interval
  restore  seconds to restore a --size-mb tenant from its replica into a new tenant
           (restore_tenant --from-replica --as: download, integrity check, migration
           check, placement)
  move     move_tenant of a --size-mb tenant: how long writes were paused on the old
           node, and the new node's fetch on the first request (clients wait for both)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

from common import emit, fast_password_hashing, setup_django, summary_ms

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--size-mb", type=int, default=50)
    args = parser.parse_args()
    work = setup_django("replication")
    from tests.replication.conftest import ACCESS_KEY, BUCKET, SECRET_KEY, start_seaweedfs

    (work / "seaweedfs").mkdir()
    endpoint, seaweed = start_seaweedfs(work / "seaweedfs")
    litestream = None
    try:
        configure(endpoint, BUCKET, ACCESS_KEY, SECRET_KEY)
        litestream = start_litestream(work)
        measure_lag(args.samples)
        measure_restore(args.size_mb)
        measure_move(args.size_mb, work)
    finally:
        if litestream is not None:
            litestream.terminate()
            litestream.wait(timeout=30)
        seaweed.terminate()
        seaweed.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def configure(endpoint: str, bucket: str, key: str, secret: str) -> None:
    from django.conf import settings

    settings.QUIRE_REPLICATION = True
    settings.QUIRE_REPLICA_TYPE = "s3"
    settings.QUIRE_S3_ENDPOINT = endpoint
    settings.QUIRE_S3_BUCKET = bucket
    settings.QUIRE_S3_PREFIX = "bench"
    settings.QUIRE_S3_ACCESS_KEY_ID = key
    settings.QUIRE_S3_SECRET_ACCESS_KEY = secret
    settings.QUIRE_REPLICA_SYNC_INTERVAL = "1s"


def start_litestream(work: Path) -> subprocess.Popen:
    from django.core.management import call_command

    from apps.tenancy.nodes.replication import litestream_binary, litestream_env
    from apps.tenancy.routing.databases import data_dir

    data_dir().mkdir(parents=True, exist_ok=True)
    config = work / "litestream.yml"
    call_command("litestream_config", "-o", str(config), stdout=StringIO())
    with open(work / "litestream.log", "w") as log:
        return subprocess.Popen(
            [litestream_binary(), "replicate", "-config", str(config)],
            env=litestream_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def create(slug: str):
    from apps.tenancy.fleet.services import tenant_create

    with fast_password_hashing():
        return tenant_create(
            slug=slug, name=slug, admin_email=f"a@{slug}.example", admin_password="pw"
        )


def replica_txid(slug: str) -> int | None:
    from apps.tenancy.nodes.replication import replication_position

    return replication_position(slug=slug).replica_txid


def wait_past(slug: str, txid: int | None, timeout: float = 30) -> float:
    """Return when the replica first showed a transaction newer than txid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = replica_txid(slug)
        if current is not None and (txid is None or current > txid):
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"{slug} was not replicated within {timeout} s")


def measure_lag(samples: int) -> None:
    from apps.accounts.models import User
    from apps.posts.services import post_create
    from apps.tenancy.routing.context import tenant_context

    tenant = create("lag")
    wait_past("lag", None)
    lags = []
    with tenant_context(tenant):
        author = User.objects.get()
        for n in range(samples):
            before = replica_txid("lag")
            post_create(author=author, title=f"lag {n}", body="x")
            committed = time.monotonic()
            lags.append(wait_past("lag", before) - committed)
            time.sleep(0.3)
    emit(
        {
            "bench": "replication",
            "scenario": "lag",
            "sync_interval": "1s",
            "samples": samples,
            **{
                key.replace("_ms", "_s"): round(value / 1000, 2)
                for key, value in summary_ms(lags).items()
            },
            "p99_s": round(sorted(lags)[max(0, round(0.99 * (len(lags) - 1)))], 2),
        }
    )


def fill(slug: str, size_mb: int) -> None:
    """Write about size_mb of posts to a tenant and wait until the replica has them."""
    from apps.accounts.models import User
    from apps.posts.models import Post
    from apps.tenancy.fleet.selectors import tenant_get
    from apps.tenancy.routing.context import tenant_context

    before = replica_txid(slug)
    body = "lorem ipsum dolor sit amet " * 4000  # about 100 KB a post
    with tenant_context(tenant_get(slug=slug)):
        author = User.objects.get()
        Post.objects.bulk_create(
            Post(author=author, title=f"{slug} {n}", body=body, body_html="", excerpt="")
            for n in range(size_mb * 10)
        )
    wait_past(slug, before, timeout=120)
    time.sleep(2)  # let the last upload settle


def measure_move(size_mb: int, work: Path) -> None:
    from django.conf import settings

    from apps.tenancy.fleet.services import tenant_move
    from apps.tenancy.nodes.replication import fetch_from_replica
    from apps.tenancy.routing.databases import database_path, release_all

    settings.QUIRE_NODES = {"node-1": "127.0.0.1:1", "node-2": "127.0.0.1:2"}
    settings.TENANT_DB_TIMEOUT = 0.5
    tenant = create("mover")
    wait_past("mover", None)
    fill("mover", size_mb)
    size = database_path("mover").stat().st_size
    paused = tenant_move(tenant=tenant, to_node="node-2")
    # Be the new node: its own, empty tenants folder; its first request fetches the file.
    settings.QUIRE_NODE_ID = "node-2"
    settings.TENANTS_DATA_DIR = work / "node-2"
    release_all()
    started = time.monotonic()
    fetch_from_replica(slug="mover")
    fetched = time.monotonic() - started
    emit(
        {
            "bench": "replication",
            "scenario": "move",
            "size_mb": round(size / 2**20, 1),
            "writes_paused_s": round(paused, 2),
            "first_request_fetch_s": round(fetched, 2),
            "clients_waited_s": round(paused + fetched, 2),
        }
    )


def measure_restore(size_mb: int) -> None:
    from django.core.management import call_command

    from apps.tenancy.routing.databases import database_path

    create("big")
    wait_past("big", None)
    fill("big", size_mb)
    size = database_path("big").stat().st_size
    started = time.monotonic()
    call_command("restore_tenant", "big", "--from-replica", "--as", "big-copy", stdout=StringIO())
    seconds = time.monotonic() - started
    emit(
        {
            "bench": "replication",
            "scenario": "restore",
            "size_mb": round(size / 2**20, 1),
            "seconds": round(seconds, 2),
        }
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    main()
