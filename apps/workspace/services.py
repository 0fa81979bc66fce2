"""Workspace-wide actions for its admins: export everything, delete the workspace."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core import serializers

from apps.accounts.models import Invitation, User
from apps.posts.models import Comment, Post, Tag
from apps.tenancy.fleet.services import tenant_backup, tenant_delete
from apps.tenancy.routing.context import require_current_tenant

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
    """Write a snapshot of the workspace's database, without secrets, to a temporary file."""
    folder = Path(tempfile.mkdtemp(prefix="quire-export-"))
    path = tenant_backup(tenant=require_current_tenant(), destination=folder / "workspace.sqlite3")
    _strip_secrets(path)
    return path


def _strip_secrets(path: Path) -> None:
    """Drop sessions, make passwords unusable and void invitation links in an export file.

    The file is the export's own copy, not the workspace's database. secure_delete and
    VACUUM leave no trace of the removed values in its free pages, and the rollback
    journal (not WAL) keeps everything in the one file that is downloaded.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f'DELETE FROM "{Session._meta.db_table}"')  # noqa: S608 (model table)
        users = User._meta.db_table
        for (pk,) in connection.execute(f'SELECT id FROM "{users}"').fetchall():  # noqa: S608
            connection.execute(
                f'UPDATE "{users}" SET password = ? WHERE id = ?',  # noqa: S608
                (make_password(None), pk),
            )
        invitations = Invitation._meta.db_table
        connection.execute(
            f"UPDATE \"{invitations}\" SET token_hash = 'exported-' || id"  # noqa: S608
        )
        connection.execute("COMMIT")
        connection.execute("VACUUM")
    finally:
        connection.close()


def workspace_delete() -> None:
    """Stop serving the workspace at once and move its data to the trash."""
    tenant_delete(tenant=require_current_tenant())
