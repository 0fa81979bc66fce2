"""Replica read connections are kept between requests, never at the cost of fresh reads."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test import Client

from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.models import Tenant
from apps.tenancy.nodes import replicapool
from apps.tenancy.nodes.supervisor import rollback_journal, sweep
from apps.tenancy.routing import work
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    connect,
    copy_database,
    database_path,
    release_all,
    replica_path,
)
from tests.conftest import admin_email, host
from tests.tenancy.test_replica_reads import primary, replica_node  # noqa: F401 (fixtures)


def publish_copy(slug: str, name: str) -> Path:
    """Publish a copy of the primary as the supervisor does: a rollback-journal generation."""
    generation = replica_path(slug).with_name(f"{slug}.{name}.sqlite3")
    copy_database(database_path(slug), generation)
    assert rollback_journal(generation)
    draft = replica_path(slug).with_name(f".{slug}.sqlite3.draft")
    draft.symlink_to(generation.name)
    os.replace(draft, replica_path(slug))
    return generation


@dataclass
class Published:
    client: Client  # signed in to acme
    generation: Path


@pytest.fixture
def published(request) -> Iterator[Published]:
    """acme's replica here published as a generation file behind the replica path."""
    client = request.getfixturevalue("replica_node")
    replica_path("acme").unlink()
    yield Published(client, publish_copy("acme", "1"))
    replicapool.close_all()


@pytest.fixture
def wal_replica(request) -> Client:
    """acme's replica here as a plain copy of the primary, in WAL mode."""
    return request.getfixturevalue("replica_node")


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """Record every SQLite file a read-only connection is opened on."""
    seen: list[str] = []
    original = DatabaseWrapper.get_new_connection

    def counting(self, conn_params):
        if "mode=ro" in conn_params["database"]:
            seen.append(conn_params["database"])
        return original(self, conn_params)

    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", counting)
    return seen


def read_page(client) -> bytes:
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response["X-Quire-Served-By"] == "node-2 replica"
    return response.content


def follow_without_page_one(generation: Path) -> None:
    """Apply the primary's changed pages to the replica as Litestream's follower may.

    The follower writes the pages a change touched, straight into the file; a change on
    a WAL primary need not touch page 1, whose change counter tells SQLite that its
    cached pages are stale.
    """
    checkpoint = connect(database_path("acme"))
    checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint.close()
    source = database_path("acme").read_bytes()
    target = generation.read_bytes()
    page = int.from_bytes(target[16:18], "big")
    assert len(source) == len(target)
    changed = [
        n
        for n in range(1, len(source) // page)
        if source[n * page : (n + 1) * page] != target[n * page : (n + 1) * page]
    ]
    assert changed
    with open(generation, "r+b") as file:
        for n in changed:
            file.seek(n * page)
            file.write(source[n * page : (n + 1) * page])


def rename_author(title: str) -> None:
    with tenant_context(Tenant.objects.get(slug="acme")), work.atomic():
        User.objects.filter(email=admin_email("acme")).update(first_name=title)
    release_all()


def test_replica_reads_take_one_kept_connection_which_holds_no_lock_between_reads(
    published, opened
):
    assert b"Replicated post" in read_page(published.client)
    assert b"Replicated post" in read_page(published.client)
    assert b"Replicated post" in read_page(published.client)
    assert len(opened) == 1
    assert replicapool.kept_count() == 1
    # What the follower needs to apply a change: nobody else holding the file.
    follower = sqlite3.connect(published.generation, timeout=0, isolation_level=None)
    follower.execute("BEGIN EXCLUSIVE")
    follower.execute("ROLLBACK")
    follower.close()


def test_a_kept_connection_reads_changes_written_under_it_even_without_page_one(published, opened):
    assert b"Sign out" in read_page(published.client)
    with tenant_context(Tenant.objects.get(slug="acme")):
        author = User.objects.get(email=admin_email("acme"))
        post_create(author=author, title="Second post", body="more words")
    release_all()
    before = published.generation.read_bytes()[:100]
    follow_without_page_one(published.generation)
    assert (
        published.generation.read_bytes()[:100] == before
    )  # page 1 untouched, as the follower may
    assert b"Second post" in read_page(published.client)
    assert len(opened) == 1  # on the same, kept, connection


def test_a_replica_in_wal_mode_is_read_on_a_connection_of_its_own_as_before(wal_replica, opened):
    assert b"Replicated post" in read_page(wal_replica)
    assert b"Replicated post" in read_page(wal_replica)
    assert len(opened) == 2
    assert replicapool.kept_count() == 0


def test_a_new_generation_closes_the_connections_kept_on_the_old_one(published, opened):
    read_page(published.client)
    rename_author("Renamed")
    newer = publish_copy("acme", "2")
    published.generation.unlink()  # as publish() removes older generations
    assert replicapool.close_stale() == 1
    assert not [fd for fd in open_files() if fd.startswith(str(published.generation))]
    read_page(published.client)
    assert opened[-1].startswith(f"file:{newer}")
    assert replicapool.kept_count() == 1


def test_a_removed_replica_frees_its_file_though_this_process_kept_a_connection(
    published, settings
):
    read_page(published.client)
    assert any(fd.startswith(str(published.generation)) for fd in open_files())
    sweep(followed=set(), placed=set())  # the placement was removed: files go
    assert not replica_path("acme").exists()
    assert not published.generation.exists()
    assert replicapool.close_stale() == 1
    assert not [fd for fd in open_files() if fd.startswith(str(published.generation))]


def test_kept_connections_are_capped_per_process_the_least_recently_used_closed(
    published, settings
):
    settings.QUIRE_REPLICA_KEPT_CONNECTIONS = 2
    generation = published.generation
    link, inode = replica_path("acme"), generation.stat().st_ino
    raws = [connect(generation, mode="ro") for _ in range(3)]
    for raw in raws:
        assert replicapool.keep(raw, path=generation, link=link, inode=inode, advance_sql=None)
    assert replicapool.kept_count() == 2
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        raws[0].execute("SELECT 1")
    assert replicapool.take(generation).raw is raws[2]


def open_files() -> list[str]:
    """Return the files this process has open."""
    folder = Path("/proc/self/fd")
    names = []
    for fd in folder.iterdir():
        try:
            names.append(os.readlink(fd))
        except OSError:
            continue
    return names
