"""File storage that keeps each tenant's files in MEDIA_ROOT/<slug>/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage

from apps.tenancy.routing.context import require_current_tenant


class TenantFileSystemStorage(FileSystemStorage):
    """Store files under the active tenant's own folder; no tenant, no files.

    Names are resolved inside that folder by Django's safe_join, so '../other/x' is
    refused with SuspiciousFileOperation.
    """

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(Path(settings.MEDIA_ROOT) / require_current_tenant().slug)

    @property  # type: ignore[override]
    def location(self) -> str:
        return str(Path(self.base_location).resolve())

    @property  # type: ignore[override]
    def base_url(self) -> str:
        return f"/{settings.MEDIA_URL.strip('/')}/{require_current_tenant().slug}/"


def media_dir(slug: str) -> Path:
    """Return the folder that holds a tenant's stored files (it may not exist)."""
    return Path(settings.MEDIA_ROOT) / slug


def stored_bytes(slug: str) -> int:
    """Return the bytes of the files stored for a tenant (0 when it has none)."""
    total = 0
    for root, _dirs, files in os.walk(media_dir(slug)):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue  # deleted while we looked
    return total


def files_beside(database: Path) -> Path:
    """Return the folder that holds the stored files of a backup or export file."""
    return database.with_name(database.name + ".files")


def copy_stored_files(slug: str, destination: Path) -> Path | None:
    """Copy a tenant's stored files into a new folder; None (no folder) if it has none."""
    if not media_dir(slug).is_dir():
        return None
    shutil.copytree(media_dir(slug), destination)
    return destination


def replace_stored_files(slug: str, source: Path, keep_in: Path | None) -> None:
    """Make a copy of ``source`` the tenant's stored files; its current ones go to ``keep_in``."""
    if media_dir(slug).exists():
        if keep_in is None:
            shutil.rmtree(media_dir(slug))
        else:
            keep_in.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(media_dir(slug), keep_in)
    shutil.copytree(source, media_dir(slug))
