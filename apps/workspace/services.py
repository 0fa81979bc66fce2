"""Workspace-wide actions for its admins: export everything, delete the workspace."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from django.core import serializers

from apps.accounts.models import User
from apps.posts.models import Comment, Post, Tag
from apps.tenancy.context import require_current_tenant
from apps.tenancy.services import tenant_backup, tenant_delete

MEMBER_FIELDS = ("email", "first_name", "last_name", "role", "is_active", "date_joined")


def workspace_export_json() -> dict[str, Any]:
    """Return the workspace's content as JSON-ready data (no password hashes)."""
    tenant = require_current_tenant()

    def rows(queryset: Any, fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            serializers.serialize("json", queryset, fields=fields)
        )
        return data

    return {
        "workspace": {"slug": tenant.slug, "name": tenant.name},
        "members": rows(User.objects.order_by("pk"), MEMBER_FIELDS),
        "tags": rows(Tag.objects.order_by("pk")),
        "posts": rows(Post.objects.order_by("pk")),
        "comments": rows(Comment.objects.order_by("pk")),
    }


def workspace_export_sqlite() -> Path:
    """Write a consistent snapshot of the workspace's database to a new temporary file."""
    folder = Path(tempfile.mkdtemp(prefix="quire-export-"))
    return tenant_backup(tenant=require_current_tenant(), destination=folder / "workspace.sqlite3")


def workspace_delete() -> None:
    """Stop serving the workspace at once and move its data to the trash."""
    tenant_delete(tenant=require_current_tenant())
