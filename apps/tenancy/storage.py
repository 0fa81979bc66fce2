"""File storage that keeps each tenant's files in MEDIA_ROOT/<slug>/."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage

from apps.tenancy.context import require_current_tenant


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
