"""Write down a file operation before its first step, so a killed run is finished later.

A rename or an in-place restore changes the catalog and moves several files: steps a
kill -9 can split. The operation is written to ``TENANTS_DATA_DIR/.journal/`` (one
file per tenant, synced to disk) before the first step and removed after the last.
An entry whose process is gone is abandoned; ``apps.tenancy.recovery`` completes or
undoes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from apps.tenancy.databases import data_dir, process_alive

JOURNAL_DIR_NAME = ".journal"


@dataclass(frozen=True)
class Entry:
    """One tenant's file operation in progress."""

    op: str  # "rename" or "restore"
    tenant_id: int
    status: str  # the status to return to when done
    source: str  # the slug the files are under at the start
    target: str = ""  # rename: the new slug
    trash: str = ""  # restore: the trash folder that takes the replaced files
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started: float = field(default_factory=time.time)

    def abandoned(self) -> bool:
        """Return True when the process that wrote this entry is gone."""
        return self.host != socket.gethostname() or not process_alive(self.pid)


def journal_dir() -> Path:
    """Return the folder of journal entries."""
    return data_dir() / JOURNAL_DIR_NAME


def entry_path(tenant_id: int) -> Path:
    """Return the journal file of one tenant."""
    return journal_dir() / f"{tenant_id}.json"


def write(entry: Entry) -> None:
    """Record an operation durably before its first step."""
    path = entry_path(entry.tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(asdict(entry), out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def read(tenant_id: int) -> Entry | None:
    """Return a tenant's journal entry, or None."""
    try:
        return Entry(**json.loads(entry_path(tenant_id).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def remove(entry: Entry) -> None:
    """Forget an operation whose last step is done."""
    entry_path(entry.tenant_id).unlink(missing_ok=True)


def pending() -> list[Entry]:
    """Return every journal entry, finished or abandoned or in progress."""
    if not journal_dir().is_dir():
        return []
    entries = []
    for path in sorted(journal_dir().glob("*.json")):
        entry = read(int(path.stem))
        if entry is not None:
            entries.append(entry)
    return entries
