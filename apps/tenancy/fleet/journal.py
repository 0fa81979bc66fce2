"""Write down a file operation before its first step, so a killed run is finished later.

A rename, an in-place restore or a delete changes the catalog and moves several files:
steps a kill -9 can split. The operation is written to ``TENANTS_DATA_DIR/.journal/``
(one file per tenant, synced to disk) before its first step, and the process doing it
holds an exclusive ``flock`` on that file until it is done. The kernel drops the lock
when the process dies, so an entry nobody holds is abandoned: ``apps.tenancy.fleet.recovery``
claims it (the lock again, so two recoveries never race) and completes or undoes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from apps.tenancy.routing.databases import data_dir, scratch_path

JOURNAL_DIR_NAME = ".journal"


@dataclass(frozen=True)
class Entry:
    """One tenant's file operation in progress."""

    op: str  # "rename", "restore" or "delete"
    tenant_id: int
    status: str  # the status to return to when done
    source: str  # the slug the files are under at the start
    target: str = ""  # rename: the new slug
    trash: str = ""  # restore, delete: the trash folder for the files it moves away
    pid: int = field(default_factory=os.getpid)  # for operators reading the file
    host: str = field(default_factory=socket.gethostname)
    started: float = field(default_factory=time.time)


def journal_dir() -> Path:
    """Return the folder of journal entries."""
    return data_dir() / JOURNAL_DIR_NAME


def entry_path(tenant_id: int) -> Path:
    """Return the journal file of one tenant."""
    return journal_dir() / f"{tenant_id}.json"


@contextmanager
def recorded(entry: Entry) -> Iterator[None]:
    """Write the entry durably and hold its lock while the operation runs.

    The lock is taken before the entry appears under its name, so no recovery can
    ever claim an operation that is still running.
    """
    path = entry_path(entry.tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = scratch_path(path)
    descriptor = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o640)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.write(descriptor, json.dumps(asdict(entry)).encode())
        os.fsync(descriptor)
        os.replace(temporary, path)
        yield
    finally:
        os.close(descriptor)  # releases the lock; the entry stays unless finished


@contextmanager
def claimed(tenant_id: int) -> Iterator[Entry | None]:
    """Yield a tenant's abandoned entry, locked; None if there is none or it is running."""
    path = entry_path(tenant_id)
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield None
        return
    try:
        yield _lock_and_read(descriptor, path)
    finally:
        os.close(descriptor)


def _lock_and_read(descriptor: int, path: Path) -> Entry | None:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None  # its process is still at work
    try:
        if os.fstat(descriptor).st_ino != os.stat(path).st_ino:
            return None  # finished and replaced meanwhile
    except FileNotFoundError:
        return None  # finished meanwhile
    with open(descriptor, encoding="utf-8", closefd=False) as text:
        return Entry(**json.load(text))


def remove(entry: Entry) -> None:
    """Forget an operation whose last step is done."""
    entry_path(entry.tenant_id).unlink(missing_ok=True)


def pending_tenant_ids() -> list[int]:
    """Return the tenants with a journal entry, running or abandoned."""
    if not journal_dir().is_dir():
        return []
    return sorted(int(path.stem) for path in journal_dir().glob("*.json"))
