"""Sign-in rate limit, storage cap, query time limit, and dead provisioning cleared."""

import sqlite3
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connections
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.fleet.services import tenant_create, tenant_purge
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, query_time_limit, tenant_alias
from tests.conftest import PASSWORD, admin_email, host

RUNAWAY = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"


def sign_in_attempt(client, password, slug="acme", address="203.0.113.9"):
    return client.post(
        "/login/",
        {"username": admin_email(slug), "password": password},
        HTTP_HOST=host(slug),
        REMOTE_ADDR=address,
    )


def test_sign_in_is_rate_limited_per_workspace_and_address(make_tenant, settings):
    settings.QUIRE_LOGIN_ATTEMPTS = 3
    make_tenant("acme")
    make_tenant("beta")
    client = Client()
    for _ in range(3):
        assert sign_in_attempt(client, "wrong").status_code == 200
    blocked = sign_in_attempt(client, PASSWORD)
    assert blocked.status_code == 429
    assert b"Too many sign-in attempts" in blocked.content
    assert sign_in_attempt(client, PASSWORD, address="198.51.100.1").status_code == 302
    assert sign_in_attempt(Client(), PASSWORD, slug="beta").status_code == 302


def test_a_full_workspace_refuses_writes_and_keeps_its_data(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    with tenant_context(acme):
        post_create(author=User.objects.get(email=admin_email("acme")), title="kept", body="x")
    size = database_path("acme").stat().st_size
    Tenant.objects.filter(pk=acme.pk).update(max_db_bytes=size + 64 * 1024)
    sign_in(client, Tenant.objects.get(pk=acme.pk))
    big = "lorem ipsum " * 20_000  # about 240 KB: over the cap
    response = client.post("/posts/new/", {"title": "big", "body": big}, HTTP_HOST=host("acme"))
    assert response.status_code == 507
    assert b"Workspace storage is full" in response.content
    assert (
        client.post(
            "/posts/new/", {"title": "small", "body": "fits"}, HTTP_HOST=host("acme")
        ).status_code
        == 302
    )
    with sqlite3.connect(database_path("acme")) as raw:
        titles = sorted(row[0] for row in raw.execute("SELECT title FROM posts_post"))
        assert titles == ["kept", "small"]
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_runaway_query_is_interrupted_and_the_connection_survives(make_tenant):
    acme = make_tenant("acme")
    with tenant_context(acme):
        connection = connections[tenant_alias("acme")]
        started = time.monotonic()
        with (
            query_time_limit(0.2),
            pytest.raises(OperationalError, match="interrupted"),
            connection.cursor() as cursor,
        ):
            cursor.execute(RUNAWAY)
        assert time.monotonic() - started < 3
        assert Post.objects.count() == 0  # the same connection still works


def runaway_view(request):
    from apps.tenancy.routing import work

    with work.cursor() as cursor:
        cursor.execute(RUNAWAY)
    raise AssertionError("the query should have been interrupted")


urlpatterns = [path("runaway/", runaway_view), path("", include("config.urls"))]


def test_a_runaway_request_gets_the_took_too_long_page(client, make_tenant, settings):
    make_tenant("acme")
    settings.ROOT_URLCONF = __name__
    settings.TENANT_QUERY_TIMEOUT = 0.2
    response = client.get("/runaway/", HTTP_HOST=host("acme"))
    assert response.status_code == 503
    assert b"This took too long" in response.content


def test_dead_provisioning_is_cleared_and_the_slug_reused(db, settings, tenants_data_dir):
    tenants_data_dir.mkdir(parents=True)
    Tenant.objects.create(slug="ghost", name="Ghost", status=Tenant.Status.PROVISIONING)
    (tenants_data_dir / "ghost.sqlite3").write_bytes(b"half a file")
    (tenants_data_dir / ".ghost.sqlite3.123.456.tmp").write_bytes(b"half a copy")
    # Recent: it may still be running, so it is left alone.
    with pytest.raises(Exception, match="already taken"):
        tenant_create(slug="ghost", name="G", admin_email="a@g.example", admin_password=PASSWORD)
    Tenant.objects.filter(slug="ghost").update(created_at=timezone.now() - timedelta(minutes=5))
    tenant = tenant_create(
        slug="ghost", name="G", admin_email="a@g.example", admin_password=PASSWORD
    )
    assert tenant.status == Tenant.Status.ACTIVE and tenant.activated_at is not None
    assert not list(tenants_data_dir.glob(".ghost*"))


def test_purge_clears_dead_provisioning_but_never_a_served_tenant(make_tenant, tenants_data_dir):
    served = make_tenant("acme")
    # A served tenant caught mid-rename also shows 'provisioning': it must survive.
    Tenant.objects.filter(pk=served.pk).update(
        status=Tenant.Status.PROVISIONING, created_at=timezone.now() - timedelta(days=1)
    )
    Tenant.objects.create(slug="dead", name="Dead", status=Tenant.Status.PROVISIONING)
    Tenant.objects.filter(slug="dead").update(created_at=timezone.now() - timedelta(days=1))
    tenant_purge()
    assert list(Tenant.objects.values_list("slug", flat=True)) == ["acme"]
    assert database_path("acme").exists()
