"""The template database: an empty tenant database with every migration applied.

New tenants are copies of it, which takes milliseconds instead of running every
migration. It is keyed by the fingerprint of the migration graph, so a deploy that
changes migrations builds a new one on first use; a file lock makes concurrent
provisionings (threads or processes) wait for one build instead of racing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from django.conf import settings

from apps.tenancy.fleet import schema
from apps.tenancy.fleet.migrator import migrate_file
from apps.tenancy.routing.databases import data_dir

TEMPLATE_DIR_NAME = ".templates"


def template_dir() -> Path:
    """Return the folder of template databases."""
    configured = settings.TENANT_TEMPLATE_DIR
    return Path(configured) if configured else data_dir() / TEMPLATE_DIR_NAME


def template_path() -> Path:
    """Return the template database for the current migration graph, building it if needed."""
    path = template_dir() / f"{schema.fingerprint()}.sqlite3"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            _build(path)
    return path


def _build(path: Path) -> None:
    """Migrate a fresh file and publish it as the template with an atomic rename."""
    # The build lock is held: any other build file is a killed build's leftover.
    for leftover in path.parent.glob(".*.building*"):
        leftover.unlink(missing_ok=True)
    building = path.with_name(f".{path.stem}.{os.getpid()}.building")
    building.touch()
    migrate_file(building)
    with open(building, "rb") as built:
        os.fsync(built.fileno())
    os.replace(building, path)
