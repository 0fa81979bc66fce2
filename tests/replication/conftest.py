"""A real S3-compatible server (SeaweedFS `weed mini`, loopback only) and Litestream."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

WEED = str(Path(sys.executable).with_name("weed"))
ACCESS_KEY, SECRET_KEY, BUCKET = "quire-test-key", "quire-test-secret", "quire"
IDENTITIES = json.dumps(
    {
        "identities": [
            {
                "name": "quire",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_seaweedfs(folder: Path) -> tuple[str, subprocess.Popen]:
    """Start SeaweedFS on 127.0.0.1 with one bucket and one key pair; return its S3 URL.

    Every port is a free loopback port; the caller terminates the process.
    """
    (folder / "s3.json").write_text(IDENTITIES)
    s3_port = free_port()
    ports = {name: free_port() for name in ("master", "volume", "filer", "admin")}
    grpc = {name: free_port() for name in ("master", "volume", "filer", "admin", "s3")}
    args = [
        WEED,
        "mini",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={grpc['s3']}",
        f"-s3.config={folder / 's3.json'}",
        f"-bucket={BUCKET}",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items() if name != "s3"),
    ]
    log = folder / "weed.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{s3_port}"
    try:
        wait_for_s3(endpoint, server, log)
    except BaseException:
        stop(server)
        raise
    return endpoint, server


def stop(process: subprocess.Popen) -> None:
    """Terminate a process started in its own session, killing it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_s3(endpoint: str, server: subprocess.Popen, log: Path) -> None:
    """Wait until the S3 API answers (403 without a signature is an answer)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"weed mini stopped:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{endpoint}/{BUCKET}", timeout=1)  # noqa: S310 (loopback)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
            continue
        return
    raise RuntimeError(f"weed mini did not answer; see {log}")


@pytest.fixture(scope="package")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS S3 endpoint for the replication tests."""
    endpoint, server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield endpoint
    finally:
        stop(server)


@pytest.fixture
def s3_replica(settings, s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """Point replication at the S3 server, under a prefix of this test's own."""
    settings.QUIRE_REPLICATION = True
    settings.QUIRE_REPLICA_TYPE = "s3"
    settings.QUIRE_S3_ENDPOINT = s3_endpoint
    settings.QUIRE_S3_BUCKET = BUCKET
    settings.QUIRE_S3_PREFIX = f"test-{request.node.name[:40]}-{os.getpid()}"
    settings.QUIRE_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.QUIRE_S3_SECRET_ACCESS_KEY = SECRET_KEY
    settings.QUIRE_REPLICA_SYNC_INTERVAL = "200ms"
    settings.QUIRE_REPLICA_PITR_INTERVAL = "1s"
    return s3_endpoint


@pytest.fixture
def litestream(
    s3_replica: str, tenants_data_dir: Path, tmp_path: Path
) -> Iterator[subprocess.Popen]:
    """Run `litestream replicate` with the configuration Quire generates."""
    from io import StringIO

    from django.core.management import call_command

    from apps.tenancy.nodes.replication import litestream_binary, litestream_env

    tenants_data_dir.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "litestream.yml"
    call_command("litestream_config", "-o", str(config), stdout=StringIO())
    with open(tmp_path / "litestream.log", "w") as log:
        process = subprocess.Popen(
            [litestream_binary(), "replicate", "-config", str(config)],
            env=litestream_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(0.5)
            yield process
        finally:
            stop(process)
