"""Bookmarks: how far a workspace's writes have come, for read-your-writes.

A bookmark is ``<epoch>.<position>``. The position counts the workspace's committed
write transactions (``quire_commit_position``, advanced by the tenant connection inside
each one). The epoch starts at 0 and grows by one with every in-place restore, which
may bring back a file with a lower position: bookmarks compare by epoch first, so
every bookmark given out before a restore is older than any state after it, and a
copy still on the replaced file has not reached a bookmark of the restored one. Moves
and restarts keep both numbers: they live in the file.

What a reader sends back is signed (``sign``), with a salt naming the workspace: a
bookmark cannot be forged far into the future to make reads wait, nor carried from one
workspace to another. One that does not verify counts as no bookmark (``verified``).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from django.core.signing import BadSignature, Signer

from apps.tenancy.routing.databases import connect

COOKIE_NAME = "quire_bookmark"
HEADER_NAME = "X-Quire-Bookmark"
PATTERN = re.compile(r"(\d{1,9})\.(\d{1,18})")
MAX_SIGNED_LENGTH = 200
READ_SQL = "SELECT epoch, position FROM quire_commit_position WHERE id = 1"


@dataclass(frozen=True, order=True)
class Bookmark:
    """A point in a workspace's history of writes; later bookmarks compare greater."""

    epoch: int
    position: int

    def __str__(self) -> str:
        return f"{self.epoch}.{self.position}"

    @classmethod
    def parse(cls, text: str | None) -> Bookmark | None:
        """Return the bookmark written in a cookie or header, or None if it is not one."""
        found = PATTERN.fullmatch(text or "")
        return cls(int(found.group(1)), int(found.group(2))) if found else None


def _signer(tenant_id: int) -> Signer:
    return Signer(salt=f"quire.bookmark.{tenant_id}")


def sign(mark: Bookmark, *, tenant_id: int) -> str:
    """Return a bookmark as handed to a reader of one workspace: ``<epoch>.<position>:<mac>``."""
    return _signer(tenant_id).sign(str(mark))


def verified(text: str | None, *, tenant_id: int) -> Bookmark | None:
    """Return the bookmark a reader of this workspace sent back; None if not signed for it."""
    if not text or len(text) > MAX_SIGNED_LENGTH:
        return None
    try:
        return Bookmark.parse(_signer(tenant_id).unsign(text))
    except BadSignature:
        return None


def bookmark_of(path: Path) -> Bookmark | None:
    """Return the bookmark a database file has reached, or None if it keeps none."""
    connection = connect(path, mode="ro")
    try:
        row = connection.execute(READ_SQL).fetchone()
    finally:
        connection.close()
    return Bookmark(int(row[0]), int(row[1])) if row else None


def start_new_epoch(staged: Path, *, replacing: Path | None) -> Bookmark | None:
    """Give a file about to replace another an epoch above both; return its bookmark.

    The file it replaces may be damaged (that is often why it is restored): its epoch
    then counts as unknown.
    """
    marks = [_readable_bookmark(path) for path in (staged, replacing) if path]
    epoch = max((mark.epoch for mark in marks if mark), default=-1) + 1
    connection = connect(staged)
    try:
        connection.execute("UPDATE quire_commit_position SET epoch = ? WHERE id = 1", (epoch,))
    finally:
        connection.close()
    return bookmark_of(staged)


def _readable_bookmark(path: Path) -> Bookmark | None:
    try:
        return bookmark_of(path) if path.is_file() else None
    except sqlite3.Error:
        return None
