"""The trash: where deleted and replaced tenant files wait before they are purged."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from apps.tenancy.routing.databases import (
    checkpoint,
    data_dir,
    database_files,
    database_path,
    release,
    replication_state_dir,
)
from apps.tenancy.routing.storage import media_dir

STORED_FILES_DIR_NAME = "files"  # a trash folder's copy of the tenant's stored files

TRASH_DIR_NAME = ".trash"
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def trash_dir() -> Path:
    """Return the folder that holds trashed tenant files."""
    return data_dir() / TRASH_DIR_NAME


def trash_folder(slug: str, label: str, when: datetime) -> Path:
    """Return the trash folder for one tenant's files moved away at a given time."""
    return trash_dir() / f"{slug}.{label}.{when.astimezone(UTC).strftime(STAMP_FORMAT)}"


def move_to_trash(
    slug: str,
    label: str,
    when: datetime,
    folder: Path | None = None,
    *,
    fold_wal: bool = True,
    stored_files: bool = False,
) -> Path:
    """Move the tenant's database file and companions into a new trash folder.

    The WAL is folded into the file first, so the file alone holds the data even if a
    kill comes between the moves (what is left behind is swept up as orphaned). A caller
    holding the write lock itself passes ``fold_wal=False``. With ``stored_files`` the
    tenant's stored files (MEDIA_ROOT/<slug>) go too, into the folder's ``files``.
    """
    release(slug)
    folder = folder or trash_folder(slug, label, when)
    folder.mkdir(parents=True, exist_ok=True)
    if fold_wal and database_path(slug).exists():
        checkpoint(database_path(slug))
    for path in database_files(slug):
        if path.exists():
            path.rename(folder / path.name)
    # Litestream's local state follows the file; the replica itself stays, for restores.
    state = replication_state_dir(slug)
    if state.exists():
        state.rename(folder / state.name)
    if stored_files and media_dir(slug).exists():
        shutil.move(media_dir(slug), folder / STORED_FILES_DIR_NAME)
    return folder


def trashed_before(cutoff: datetime) -> list[Path]:
    """Return the trash folders made before a time."""
    if not trash_dir().is_dir():
        return []
    return sorted(
        folder for folder in trash_dir().iterdir() if folder.is_dir() and stamp_of(folder) < cutoff
    )


def remove(folder: Path) -> None:
    """Delete a trash folder for good."""
    shutil.rmtree(folder)


def stamp_of(folder: Path) -> datetime:
    """Return when a trash folder was made, from its name."""
    return datetime.strptime(folder.name.rsplit(".", 1)[-1], STAMP_FORMAT).replace(tzinfo=UTC)
