"""The workspace unit of work: transactions on the workspace's own file, never the catalog."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from apps.accounts.models import User
from apps.accounts.services import MemberError, member_set_role
from apps.posts import services as post_services
from apps.posts.models import Post, Tag
from apps.posts.services import post_create
from apps.tenancy.models import Tenant
from apps.tenancy.nodes.bookmarks import bookmark_of
from apps.tenancy.routing import work
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, open_connection_count, release_all
from tests.conftest import PASSWORD, admin_email, host

ROOT = Path(__file__).resolve().parents[2]


def catalog_path() -> str:
    return connections["default"].settings_dict["NAME"]


def admin_of(tenant: Tenant) -> User:
    with tenant_context(tenant):
        return User.objects.get(email=admin_email(tenant.slug))


@pytest.mark.django_db
def test_a_write_refused_half_way_leaves_nothing(make_tenant, monkeypatch):
    tenant = make_tenant("acme")
    author = admin_of(tenant)
    calls = []

    def tag_then_fail(*, name):
        if len(calls) == 3:
            raise sqlite3.OperationalError("refused half-way")
        calls.append(name)
        return Tag.objects.get_or_create(name=name)

    monkeypatch.setattr(post_services.Tag.objects, "get_or_create", tag_then_fail)
    tags = [f"tag-{n}" for n in range(30)]
    with tenant_context(tenant), pytest.raises(sqlite3.OperationalError, match="half-way"):
        post_create(author=author, title="Half", body="body", tags=tags)
    with tenant_context(tenant):
        assert Post.objects.count() == 0
        assert Tag.objects.count() == 0


@pytest.mark.django_db
def test_the_commit_position_advances_once_per_write_transaction(make_tenant):
    tenant = make_tenant("acme")
    author = admin_of(tenant)
    with tenant_context(tenant):
        start = work.commit_position()
        post_create(author=author, title="One", body="b", tags=["a", "b"])
        assert work.commit_position() == start + 1
        with work.atomic():
            Post.objects.count()  # a read-only block commits nothing
        assert work.commit_position() == start + 1
        with pytest.raises(RuntimeError), work.atomic():
            Post.objects.create(author=author, title="Gone", body="b")
            raise RuntimeError("rolled back")
        assert work.commit_position() == start + 1
        with work.atomic(), work.atomic():  # a savepoint inside: still one transaction
            post_create(author=author, title="Two", body="b")
        assert work.commit_position() == start + 2
    release_all()
    assert bookmark_of(database_path("acme")).position == start + 2  # in the file itself


@pytest.mark.django_db
def test_an_autocommit_insert_returning_advances_the_commit_position(make_tenant):
    # SQLite adds an INSERT ... RETURNING's change only once its rows are fetched, after
    # the statement's execute returned; Django's own autocommit writes must count too.
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        start = work.commit_position()
        Tag.objects.create(name="outside")  # autocommit, RETURNING "id"
        assert work.commit_position() == start + 1
        Tag.objects.filter(name="outside").update(name="still outside")
        assert work.commit_position() == start + 2


@pytest.mark.django_db
def test_on_commit_runs_after_the_workspace_commits_and_not_after_a_rollback(make_tenant):
    tenant = make_tenant("acme")
    ran = []
    with tenant_context(tenant):
        with work.atomic():
            work.on_commit(lambda: ran.append("kept"))
            assert ran == []
        with pytest.raises(RuntimeError), work.atomic():
            work.on_commit(lambda: ran.append("rolled back"))
            raise RuntimeError
    assert ran == ["kept"]


def test_product_code_cannot_import_a_bare_transaction():
    source = "from django.db import transaction\n"
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--stdin-filename", "apps/posts/new.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert "TID251" in result.stdout
    assert "apps.tenancy.routing.work.atomic" in result.stdout


@pytest.mark.django_db
def test_the_cap_never_closes_a_connection_inside_a_transaction(make_tenant, settings):
    tenants = [make_tenant(slug) for slug in ("acme", "beta", "gamma", "delta", "omega")]
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 2
    author = admin_of(tenants[0])
    with tenant_context(tenants[0]), work.atomic():
        post_create(author=author, title="Before", body="b")
        for other in tenants[1:]:
            with tenant_context(other):
                assert Post.objects.count() == 0
        post_create(author=author, title="After", body="b")
    assert open_connection_count() <= 3
    with tenant_context(tenants[0]):
        assert sorted(Post.objects.values_list("title", flat=True)) == ["After", "Before"]


@pytest.mark.django_db(transaction=True)
def test_a_workspace_write_never_takes_the_catalog_lock(client, make_tenant, sign_in):
    tenant = make_tenant("acme")
    author = admin_of(tenant)
    sign_in(client, tenant)
    holder = sqlite3.connect(catalog_path(), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with tenant_context(tenant):
            post_create(author=author, title="While the catalog is locked", body="b")
        form = {"title": "Posted while locked", "body": "b", "tags": "x"}
        response = client.post("/posts/new/", form, HTTP_HOST=host("acme"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Post.objects.filter(title="While the catalog is locked").exists()
        assert Post.objects.filter(title="Posted while locked").exists()


@pytest.mark.django_db(transaction=True)
def test_a_locked_workspace_delays_only_itself(client, make_tenant, sign_in, settings):
    settings.TENANT_DB_TIMEOUT = 0.2
    acme, beta = make_tenant("acme"), make_tenant("beta")
    beta_client = Client()
    sign_in(beta_client, beta)
    sign_in(client, acme)
    release_all()
    holder = sqlite3.connect(database_path("acme"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        form = {"title": "Elsewhere", "body": "fine", "tags": ""}
        elsewhere = beta_client.post("/posts/new/", form, HTTP_HOST=host("beta"))
        response = client.post("/posts/new/", form, HTTP_HOST=host("acme"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert response["Retry-After"]
    assert b"This workspace is busy" in response.content
    assert elsewhere.status_code == 302
    assert elsewhere.url.startswith("/posts/")
    with tenant_context(beta):
        assert Post.objects.filter(title="Elsewhere").exists()


@pytest.mark.django_db(transaction=True)
def test_a_locked_catalog_answers_sign_up_with_503_not_500(client, settings):
    holder = sqlite3.connect(catalog_path(), isolation_level=None)
    connection = connections["default"]
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 200")
    holder.execute("BEGIN IMMEDIATE")
    try:
        form = {
            "name": "Acme",
            "subdomain": "acme",
            "email": "boss@acme.example",
            "password": PASSWORD,
        }
        response = client.post("/signup/", form, HTTP_HOST="quire.test")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.connection.execute("PRAGMA busy_timeout = 5000")
    assert response.status_code == 503
    assert response["Retry-After"]


@pytest.mark.django_db(transaction=True)
def test_admins_demoting_each_other_at_once_leave_an_admin(make_tenant, make_member, monkeypatch):
    from apps.accounts import services as account_services

    tenant = make_tenant("acme")
    admins = [admin_of(tenant)]
    admins += [make_member(tenant, f"admin{n}@acme.example", role="admin") for n in (2, 3)]
    checked = account_services._require_another_admin

    def slow_check(member, action):
        checked(member, action)
        time.sleep(0.2)  # every demotion passes its check before any writes, unless locked

    monkeypatch.setattr(account_services, "_require_another_admin", slow_check)
    errors: list[Exception] = []

    def demote(member):
        try:
            with tenant_context(tenant):
                member_set_role(member=member, role=User.Role.MEMBER)
        except MemberError as exc:
            errors.append(exc)
        finally:
            release_all()

    threads = [threading.Thread(target=demote, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with tenant_context(tenant):
        assert User.objects.filter(role=User.Role.ADMIN).count() == 1
    assert len(errors) == 1
    assert "is the last admin" in str(errors[0])
