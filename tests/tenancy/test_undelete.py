"""A deleted workspace comes back from the trash within its trash period, and only then."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.onboarding.undelete import undelete_url
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.exceptions import InvalidTenantState, RestoreRefused, TenantDatabaseExists
from apps.tenancy.fleet.services import tenant_delete, tenant_purge, tenant_undelete
from apps.tenancy.fleet.trash import trash_dir
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
from apps.tenancy.routing.storage import media_dir
from tests.conftest import PASSWORD, admin_email, host
from tests.crash.conftest import Quire


def deleted_workspace(make_tenant) -> Tenant:
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        post_create(
            author=User.objects.get(email=admin_email("acme")),
            title="Kept through the trash",
            body="body",
        )
    media_dir("acme").mkdir(parents=True)
    (media_dir("acme") / "picture.png").write_bytes(b"png bytes")
    tenant_delete(tenant=tenant)
    tenant.refresh_from_db()
    assert not database_path("acme").exists() and not media_dir("acme").exists()
    return tenant


def test_undelete_brings_back_data_and_stored_files(make_tenant):
    tenant = deleted_workspace(make_tenant)
    tenant_undelete(tenant=tenant)
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE and tenant.deleted_at is None
    with tenant_context(tenant):
        assert list(Post.objects.values_list("title", flat=True)) == ["Kept through the trash"]
    assert (media_dir("acme") / "picture.png").read_bytes() == b"png bytes"
    assert not list(trash_dir().glob("acme.deleted.*"))  # its trash folder is used up


def test_the_command_undeletes_and_refuses_clearly(make_tenant):
    deleted_workspace(make_tenant)
    out = StringIO()
    call_command("undelete_tenant", "acme", stdout=out)
    assert "active again" in out.getvalue()
    with pytest.raises(CommandError, match="not deleted"):
        call_command("undelete_tenant", "acme")
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        call_command("undelete_tenant", "nope")


def test_refused_once_the_trash_period_is_over(make_tenant, settings):
    tenant = deleted_workspace(make_tenant)
    Tenant.objects.filter(pk=tenant.pk).update(
        deleted_at=timezone.now() - timedelta(days=settings.TENANT_TRASH_RETENTION_DAYS + 1)
    )
    tenant.refresh_from_db()
    with pytest.raises(InvalidTenantState, match="trash period is over"):
        tenant_undelete(tenant=tenant)
    with pytest.raises(CommandError, match="trash period is over"):
        call_command("undelete_tenant", "acme")
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED


def test_refused_after_purge_and_when_the_slug_was_taken(make_tenant, settings):
    tenant = deleted_workspace(make_tenant)
    settings.TENANT_TRASH_RETENTION_DAYS = 0
    tenant_purge()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    with pytest.raises(CommandError, match="No tenant 'acme'"):
        call_command("undelete_tenant", "acme")
    make_tenant("acme")  # a new workspace took the slug
    with pytest.raises(CommandError, match="active, not deleted"):
        call_command("undelete_tenant", "acme")


def test_refused_when_the_trash_copy_is_gone(make_tenant):
    tenant = deleted_workspace(make_tenant)
    for folder in trash_dir().glob("acme.deleted.*"):
        (folder / "acme.sqlite3").unlink()
    with pytest.raises(RestoreRefused, match="trash copy of 'acme' is gone"):
        tenant_undelete(tenant=tenant)
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED


def test_refused_when_files_sit_under_the_slug(make_tenant):
    tenant = deleted_workspace(make_tenant)
    sqlite3.connect(database_path("acme")).close()
    with pytest.raises(TenantDatabaseExists):
        tenant_undelete(tenant=tenant)
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED


KILLED_UNDELETE = """
import os, shutil, signal
from apps.tenancy.models import Tenant
from apps.tenancy.fleet.services import tenant_undelete

def killed(*args, **kwargs):  # the hook: the stored files are the last thing to move back
    os.kill(os.getpid(), signal.SIGKILL)

shutil.move = killed
tenant_undelete(tenant=Tenant.objects.get(slug="alpha"))
"""


def test_an_undelete_killed_half_way_is_finished_by_recover(tmp_path: Path):
    quire = Quire(tmp_path, DJANGO_MEDIA_ROOT=str(tmp_path / "tenants" / ".media"))
    try:
        quire.manage("migrate", "--no-input")
        create = ("--name", "Alpha", "--admin-email", "boss@alpha.example", "--admin-password")
        quire.manage("create_tenant", "alpha", *create, PASSWORD)
        with sqlite3.connect(quire.data / "alpha.sqlite3") as raw:
            raw.execute("CREATE TABLE acked (n INTEGER)")
            raw.execute("INSERT INTO acked VALUES (7)")
        stored = quire.data / ".media" / "alpha"
        stored.mkdir(parents=True)
        (stored / "a.txt").write_text("attached")
        quire.manage("delete_tenant", "alpha")
        assert not stored.exists()
        killed = quire.manage("shell", "-c", KILLED_UNDELETE, check=False)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        # Killed after the database came back, before the stored files did.
        assert quire.catalog("SELECT status FROM tenancy_tenant") == [("maintenance",)]
        assert list((quire.data / ".journal").glob("*.json"))
        assert (quire.data / "alpha.sqlite3").exists() and not stored.exists()
        recovered = quire.manage(
            "shell", "-c", "from apps.tenancy.fleet.recovery import recover; print(recover())"
        )
        assert "undelete of alpha completed" in recovered.stdout
        assert quire.catalog("SELECT status, deleted_at FROM tenancy_tenant") == [("active", None)]
        assert quire.tenant("alpha", "SELECT n FROM acked") == [(7,)]
        assert (stored / "a.txt").read_text() == "attached"
        assert not list((quire.data / ".journal").glob("*.json"))
    finally:
        quire.stop()


# The signed link, from the deleted page and the e-mail to the admins ------------------

MAIN = "quire.test"


def delete_in_the_app(client, make_tenant, make_member, sign_in) -> tuple[Tenant, str]:
    tenant = make_tenant("acme")
    make_member(tenant, "second@acme.example", role="admin")
    make_member(tenant, "member@acme.example")
    media_dir("acme").mkdir(parents=True)
    (media_dir("acme") / "picture.png").write_bytes(b"png bytes")
    sign_in(client, tenant)
    response = client.post("/settings/delete/", {"confirm": "acme"}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    page = response.content.decode()
    link = re.search(r'href="(http://quire\.test[^"]*/undelete/[^"]+)"', page)
    assert link, page
    return tenant, link.group(1)


def main_site() -> Client:
    """A client without the workspace's cookies: they are not sent to the main site."""
    return Client(HTTP_HOST=MAIN)


def test_the_signed_link_brings_the_workspace_back(
    client, make_tenant, make_member, sign_in, mailoutbox
):
    tenant, link = delete_in_the_app(client, make_tenant, make_member, sign_in)
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 404  # its host is gone
    (notice,) = mailoutbox
    assert sorted(notice.to) == ["admin@acme.example", "second@acme.example"]
    assert link in notice.body and "kept for" in notice.body
    main = main_site()
    path = urlsplit(link).path
    confirm = main.get(path)
    assert confirm.status_code == 200
    assert b"Restore Acme" in confirm.content
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED  # GET changes nothing
    restored = main.post(path)
    assert restored.status_code == 302
    assert restored["Location"] == "http://acme.quire.test/login/"
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.ACTIVE
    assert (media_dir("acme") / "picture.png").read_bytes() == b"png bytes"
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200  # served again
    used = main.post(path)  # a second use is refused clearly
    assert used.status_code == 410 and b"not deleted any more" in used.content


def test_a_tampered_or_expired_link_gets_a_clear_page(
    client, make_tenant, make_member, sign_in, settings
):
    tenant, link = delete_in_the_app(client, make_tenant, make_member, sign_in)
    main = main_site()
    path = urlsplit(link).path
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    for bad in (tampered, path.replace(f"/{tenant.pk}/", f"/{tenant.pk + 1}/")):
        response = main.post(bad)
        assert response.status_code == 410 and b"not valid" in response.content
    days = settings.TENANT_TRASH_RETENTION_DAYS
    with mock.patch.object(signing.time, "time", return_value=time.time() - days * 86400 - 60):
        old = urlsplit(undelete_url(tenant)).path
    expired = main.post(old)
    assert expired.status_code == 410 and b"expired" in expired.content
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED


def test_a_link_whose_trash_copy_is_gone_says_so(client, make_tenant, make_member, sign_in):
    _tenant, link = delete_in_the_app(client, make_tenant, make_member, sign_in)
    for folder in trash_dir().glob("acme.deleted.*"):
        (folder / "acme.sqlite3").unlink()
    response = main_site().post(urlsplit(link).path)
    assert (
        response.status_code == 409
        and b"trash copy of &#x27;acme&#x27; is gone" in response.content
    )


def test_restore_posts_are_throttled_per_client_address(
    client, make_tenant, make_member, sign_in, settings
):
    tenant, link = delete_in_the_app(client, make_tenant, make_member, sign_in)
    settings.QUIRE_LOGIN_ATTEMPTS = 2
    guesser = Client(HTTP_HOST=MAIN, REMOTE_ADDR="203.0.113.77")
    guess = urlsplit(link).path[:-3] + "xyz/"
    assert [guesser.post(guess).status_code for _ in range(3)] == [410, 410, 429]
    throttled = guesser.post(urlsplit(link).path)  # even the right link, from that address
    assert throttled.status_code == 429 and throttled["Retry-After"]
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.DELETED
    other = Client(HTTP_HOST=MAIN, REMOTE_ADDR="203.0.113.78")
    assert other.post(urlsplit(link).path).status_code == 302  # other addresses go on
