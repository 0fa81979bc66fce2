"""Engine edge cases: writes outside the unit of work, open cursors, empty files, killed deletes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.fleet import trash
from apps.tenancy.fleet.recovery import recover
from apps.tenancy.fleet.services import tenant_create, tenant_delete, tenant_purge, tenant_rename
from apps.tenancy.models import Tenant
from apps.tenancy.routing import work
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, release_all
from tests.conftest import PASSWORD, admin_email, host


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no handler catches it."""


def admin_of(tenant: Tenant) -> User:
    with tenant_context(tenant):
        return User.objects.get(email=admin_email(tenant.slug))


@pytest.mark.django_db(transaction=True)
def test_a_write_through_the_admin_site_advances_the_commit_position(make_tenant, sign_in):
    tenant = make_tenant("acme")
    author = admin_of(tenant)
    with tenant_context(tenant):
        post = post_create(author=author, title="One", body="b")
        before = work.commit_position()
    client = Client()
    sign_in(client, tenant)
    form = {"title": "Changed", "body": "b", "author": author.pk, "body_html": "x", "excerpt": "x"}
    response = client.post(f"/admin/posts/post/{post.pk}/change/", form, HTTP_HOST=host("acme"))
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Post.objects.get().title == "Changed"
        assert work.commit_position() > before  # caches/bookmarks hanging on it never see it


@pytest.mark.django_db(transaction=True)
def test_the_cap_never_closes_a_connection_with_an_open_cursor(make_tenant, settings):
    acme, beta, gamma = make_tenant("acme"), make_tenant("beta"), make_tenant("gamma")
    author = admin_of(acme)
    with tenant_context(acme):
        for n in range(5):
            post_create(author=author, title=f"p{n}", body="b")
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 1
    seen = []
    with tenant_context(acme):
        for post in Post.objects.iterator(chunk_size=1):  # a streaming cursor on acme
            seen.append(post.title)
            for other in (beta, gamma):
                with tenant_context(other):
                    Post.objects.count()
    assert len(seen) == 5


@pytest.mark.django_db(transaction=True)
def test_an_empty_workspace_file_answers_503_not_500(make_tenant, sign_in):
    tenant = make_tenant("acme")
    client = Client(raise_request_exception=False)
    sign_in(client, tenant)
    release_all()
    database_path("acme").write_bytes(b"")  # truncated to nothing (disk full, bad copy)
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 503
    assert response["Retry-After"]


@pytest.mark.django_db(transaction=True)
def test_a_soft_delete_killed_before_its_files_move_frees_the_slug_after_purge(
    make_tenant, monkeypatch, settings
):
    tenant = make_tenant("acme")

    def killed(path: Path) -> bool:
        raise Killed("killed while folding the WAL in")

    monkeypatch.setattr(trash, "checkpoint", killed)
    with pytest.raises(Killed):
        tenant_delete(tenant=tenant)
    monkeypatch.undo()
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.DELETED
    settings.TENANT_TRASH_RETENTION_DAYS = 0
    tenant_purge()
    assert not Tenant.objects.filter(slug="acme").exists()
    assert not list(database_path("acme").parent.glob("acme.sqlite3*"))  # deleted data gone
    tenant_create(slug="acme", name="New", admin_email="new@acme.example", admin_password=PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_finishing_one_killed_rename_never_fail(make_tenant, monkeypatch):
    errors: list[str] = []
    for round_ in range(40):
        tenant = make_tenant(f"alpha{round_}")
        original = Path.rename

        def rename(self: Path, target, original=original):
            if self.name.endswith("-shm"):
                raise Killed("killed between the WAL and the -shm")
            return original(self, target)

        worker = sqlite3.connect(database_path(tenant.slug))
        worker.execute("SELECT 1 FROM posts_post").fetchall()  # keeps the WAL and -shm
        monkeypatch.setattr(Path, "rename", rename)
        with pytest.raises(Killed):
            tenant_rename(tenant=tenant, new_slug=f"bravo{round_}")
        monkeypatch.undo()
        worker.close()
        release_all()
        barrier = threading.Barrier(8)

        def request(tenant_id: int = tenant.pk, barrier=barrier) -> None:
            barrier.wait()  # six requests to the workspace in maintenance, at once
            try:
                recover(tenant_id=tenant_id)  # what TenantMiddleware.in_maintenance runs
            except Exception as exc:  # a 500 for that request
                errors.append(repr(exc))

        threads = [threading.Thread(target=request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        monkeypatch.undo()
    assert errors == []
