"""A workspace's identity is its file; killed operations leave nothing that blocks a re-run."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.fleet import services
from apps.tenancy.fleet.selectors import tenant_slug_available
from apps.tenancy.fleet.services import tenant_create, tenant_rename, tenant_restore
from apps.tenancy.fleet.template import template_dir, template_path
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import companions, database_path, release_all
from tests.conftest import PASSWORD, admin_email, host


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no handler catches it."""


def write_posts(tenant: Tenant, count: int) -> None:
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email(tenant.slug))
        for n in range(count):
            post_create(author=author, title=f"Post {n}", body="kept")


def post_count(slug: str) -> int:
    with tenant_context(Tenant.objects.get(slug=slug)):
        return Post.objects.count()


def kill_when_moving(monkeypatch, name_suffix: str) -> None:
    """Die at the rename of the file whose name ends with ``name_suffix``."""
    original = Path.rename

    def rename(self: Path, target):
        if self.name.endswith(name_suffix):
            raise Killed(f"killed while moving {self.name}")
        return original(self, target)

    monkeypatch.setattr(Path, "rename", rename)


def rename_killed_half_way(monkeypatch, tenant: Tenant, dies_at: str) -> None:
    """Rename alpha to bravo while a worker reads it; die at the move of ``dies_at``."""
    worker = sqlite3.connect(database_path(tenant.slug))  # a serving worker keeps the WAL
    worker.execute("SELECT count(*) FROM posts_post").fetchone()
    kill_when_moving(monkeypatch, dies_at)
    with pytest.raises(Killed):
        tenant_rename(tenant=tenant, new_slug="bravo")
    monkeypatch.undo()
    worker.close()
    release_all()


@pytest.mark.django_db(transaction=True)
def test_after_a_rename_the_freed_subdomain_never_reaches_the_renamed_file(make_tenant):
    old = make_tenant("alpha")
    with tenant_context(old):  # this thread keeps a connection open on alpha's file
        assert User.objects.count() == 1
    renamer = threading.Thread(target=lambda: tenant_rename(tenant=old, new_slug="bravo"))
    renamer.start()  # a rename by another worker or process, as on a serving node
    renamer.join()
    newcomer = tenant_create(
        slug="alpha", name="New", admin_email="new@alpha.example", admin_password=PASSWORD
    )
    with tenant_context(Tenant.objects.get(slug="bravo")):
        assert list(User.objects.values_list("email", flat=True)) == [admin_email("alpha")]
    with tenant_context(newcomer):
        assert list(User.objects.values_list("email", flat=True)) == ["new@alpha.example"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dies_at", [".sqlite3", "-wal", "-shm"])
def test_a_rename_killed_between_its_files_is_completed_by_the_next_run(
    make_tenant, monkeypatch, dies_at, client
):
    tenant = make_tenant("alpha")
    write_posts(tenant, 30)
    rename_killed_half_way(monkeypatch, tenant, dies_at)
    # The workspace answers "one moment" under its new name, never 404 and never empty.
    response = client.get("/", HTTP_HOST=host("bravo"))
    assert response.status_code in (302, 503)
    call_command("purge_tenants")  # any fleet command finishes what was killed
    assert Tenant.objects.get(pk=tenant.pk).slug == "bravo"
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE
    assert post_count("bravo") == 30
    assert not any(
        path.exists() for path in [database_path("alpha"), *companions(database_path("alpha"))]
    )
    newcomer = tenant_create(
        slug="alpha", name="New", admin_email="new@alpha.example", admin_password=PASSWORD
    )
    with tenant_context(newcomer):
        assert Post.objects.count() == 0
        assert (
            sqlite3.connect(database_path("alpha")).execute("PRAGMA quick_check").fetchone()[0]
            == "ok"
        )


@pytest.mark.django_db(transaction=True)
def test_a_request_to_a_workspace_left_in_maintenance_finishes_the_rename(
    make_tenant, monkeypatch, client, sign_in
):
    tenant = make_tenant("alpha")
    write_posts(tenant, 3)
    rename_killed_half_way(monkeypatch, tenant, "-wal")
    assert client.get("/", HTTP_HOST=host("bravo")).status_code == 503
    sign_in(client, Tenant.objects.get(slug="bravo"), admin_email("alpha"))
    response = client.get("/", HTTP_HOST=host("bravo"))
    assert response.status_code == 200
    assert b"Post 2" in response.content


@pytest.mark.django_db(transaction=True)
def test_a_restore_killed_while_it_copies_leaves_the_workspace_as_it_was(
    make_tenant, monkeypatch, tmp_path, tenants_data_dir
):
    tenant = make_tenant("alpha")
    write_posts(tenant, 2)
    backup = services.tenant_backup(tenant=tenant, destination=tmp_path / "backup.sqlite3")
    write_posts(tenant, 3)
    release_all()

    def killed_copy(source, target):
        calls = []

        def progress(status, remaining, total):
            calls.append(remaining)
            if len(calls) == 3:
                raise Killed("killed half-way through the copy")

        reader, writer = sqlite3.connect(source), sqlite3.connect(target)
        try:
            reader.backup(writer, pages=2, progress=progress)
        finally:
            writer.close()
            reader.close()

    monkeypatch.setattr(services, "_copy_into", killed_copy)
    with pytest.raises(Killed):
        tenant_restore(slug="alpha", source=backup)
    monkeypatch.undo()
    assert Tenant.objects.get(slug="alpha").status == Tenant.Status.ACTIVE
    assert post_count("alpha") == 5  # one write transaction: nothing of it landed
    assert sqlite3.connect(database_path("alpha")).execute("PRAGMA quick_check").fetchone() == (
        "ok",
    )
    tenant_restore(slug="alpha", source=backup)  # the re-run works
    assert post_count("alpha") == 2


@pytest.mark.django_db(transaction=True)
def test_a_swap_of_a_damaged_file_killed_mid_way_is_undone_and_a_rerun_works(
    make_tenant, monkeypatch, tmp_path, tenants_data_dir
):
    tenant = make_tenant("alpha")
    write_posts(tenant, 2)
    backup = services.tenant_backup(tenant=tenant, destination=tmp_path / "backup.sqlite3")
    release_all()
    damaged = b"damaged beyond repair" * 500
    database_path("alpha").write_bytes(damaged)
    for companion in companions(database_path("alpha")):
        companion.unlink(missing_ok=True)
    original_place = services.place

    def killed_place(ready, target):
        raise Killed("killed before the restored file was placed")

    monkeypatch.setattr(services, "place", killed_place)
    with pytest.raises(Killed):
        tenant_restore(slug="alpha", source=backup)
    monkeypatch.setattr(services, "place", original_place)
    # Its scratch file names this process, which the kill would have ended.
    monkeypatch.setattr("apps.tenancy.routing.databases.process_alive", lambda pid: False)
    assert Tenant.objects.get(slug="alpha").status == Tenant.Status.MAINTENANCE
    call_command("purge_tenants")
    assert Tenant.objects.get(slug="alpha").status == Tenant.Status.ACTIVE
    assert database_path("alpha").read_bytes() == damaged  # undone: the old file is back
    assert not list(tenants_data_dir.glob(".alpha.sqlite3.*"))  # no scratch file left
    tenant_restore(slug="alpha", source=backup)  # the re-run works
    assert post_count("alpha") == 2


@pytest.mark.django_db
def test_a_killed_template_build_leaves_nothing_behind(make_tenant, settings, tmp_path):
    settings.TENANT_TEMPLATE_DIR = tmp_path / "templates"
    template_dir().mkdir()
    leftover = template_dir() / ".deadbeef.99999.building"
    leftover.write_bytes(b"half a database")
    Path(str(leftover) + "-wal").write_bytes(b"")
    template_path()
    assert not list(template_dir().glob(".*.building*"))


@pytest.mark.django_db
def test_a_dead_sign_up_frees_its_subdomain_after_the_timeout(settings, client):
    Tenant.objects.create(slug="acme", name="Acme", status=Tenant.Status.PROVISIONING)
    assert not tenant_slug_available(slug="acme")  # still in progress, as far as we know
    settings.TENANT_PROVISIONING_TIMEOUT = 0
    assert tenant_slug_available(slug="acme")
    form = {"name": "Acme", "subdomain": "acme", "email": "boss@acme.example", "password": PASSWORD}
    response = client.post("/signup/", form, HTTP_HOST="quire.test")
    assert response.status_code == 302
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE


@pytest.mark.django_db
def test_a_stale_wal_is_never_replayed_into_a_new_workspace(make_tenant, tenants_data_dir):
    donor = make_tenant("donor")
    write_posts(donor, 5)
    with tenant_context(donor):
        Post.objects.count()
    stale = companions(database_path("donor"))[0]
    assert stale.stat().st_size > 0
    os.link(stale, companions(database_path("alpha"))[0])  # a WAL left under a free name
    tenant = tenant_create(
        slug="alpha", name="Alpha", admin_email="a@alpha.example", admin_password=PASSWORD
    )
    with tenant_context(tenant):
        assert Post.objects.count() == 0
    assert list((tenants_data_dir / ".trash").glob("alpha.orphaned.*"))
