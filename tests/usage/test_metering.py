"""Rows read and written are counted by the tenant connection, per workspace, per request."""

import sqlite3

import pytest
from django.db import connections
from django.db.models.functions import Upper
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import User
from apps.posts.models import Post, Tag
from apps.posts.services import post_create
from apps.tenancy import metering
from apps.tenancy.routing import work
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, take_rows, tenant_alias
from tests.conftest import admin_email, host


def today_counts(tenant):
    return next(iter(metering.pending_counts(tenant).values()), dict.fromkeys(metering.COUNTERS, 0))


def add_posts(tenant, count):
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email(tenant.slug))
        for number in range(count):
            post_create(author=author, title=f"Post {number}", body="Some *text*", tags=["news"])


@pytest.mark.django_db
def test_rows_read_are_the_rows_the_connection_returns(make_tenant):
    tenant = make_tenant("acme")
    add_posts(tenant, 7)
    with tenant_context(tenant):
        take_rows(tenant.slug)
        assert len(list(Post.objects.all())) == 7
        assert take_rows(tenant.slug) == (7, 0)
        assert Post.objects.count() == 7  # one row out of SQLite, whatever it scanned
        assert take_rows(tenant.slug) == (1, 0)
        with work.cursor() as cursor:
            cursor.execute("SELECT id FROM posts_post LIMIT 3")
            assert len(cursor.fetchall()) == 3
            cursor.execute("SELECT id FROM posts_post")
            assert cursor.fetchone() is not None
            assert len(cursor.fetchmany(2)) == 2
            assert sum(1 for _row in cursor) == 4
        assert take_rows(tenant.slug) == (10, 0)


@pytest.mark.django_db
def test_rows_written_are_sqlites_changes_inside_and_outside_a_unit_of_work(make_tenant):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        take_rows(tenant.slug)
        with work.atomic():
            Tag.objects.bulk_create([Tag(name=f"t{number}") for number in range(3)])
        # INSERT ... RETURNING id: three rows written, and their ids are three rows read.
        assert take_rows(tenant.slug) == (3, 3)
        with work.atomic():
            assert Tag.objects.filter(name__in=["t0", "t1"]).update(name=Upper("name")) == 2
        assert take_rows(tenant.slug) == (0, 2)
        Tag.objects.filter(name="t2").delete()  # autocommit: outside any unit of work
        assert take_rows(tenant.slug)[1] == 1
        # The commit position's own row (advanced with each write) is not counted.
        with work.atomic():
            Tag.objects.create(name="solo")
        assert take_rows(tenant.slug) == (1, 1)


@pytest.mark.django_db
def test_a_known_page_counts_one_request_its_rows_and_writes_nothing(
    make_tenant, sign_in, settings
):
    # No caches: the page and the session come from the database, every time.
    dummy = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    settings.CACHES = dict.fromkeys(settings.CACHES, dummy)
    tenant = make_tenant("acme")
    add_posts(tenant, 5)
    client = Client()
    sign_in(client, tenant)
    client.get("/", HTTP_HOST=host("acme"))  # the session's first use
    metering.discard_pending()
    with tenant_context(tenant):
        alias = tenant_alias(tenant.slug)
    with CaptureQueriesContext(connections[alias]) as queries:
        response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    counts = today_counts(tenant)
    assert counts["requests"] == 1
    assert counts["rows_written"] == 0  # a GET writes nothing, so nothing is counted
    assert counts["rows_read"] == rows_returned(database_path("acme"), queries)
    assert counts["rows_read"] >= 5  # the five posts at least


def rows_returned(path, queries):
    """Run the page's statements again on a plain read-only connection; count their rows."""
    plain = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return sum(len(plain.execute(query["sql"]).fetchall()) for query in queries)
    finally:
        plain.close()


@pytest.mark.django_db
def test_a_known_write_counts_its_rows(make_tenant, sign_in):
    tenant = make_tenant("acme")
    client = Client()
    sign_in(client, tenant)
    client.get("/", HTTP_HOST=host("acme"))

    def publish(tags):
        metering.discard_pending()
        response = client.post(
            "/posts/new/", {"title": "Hello", "body": "World", "tags": tags}, HTTP_HOST=host("acme")
        )
        assert response.status_code == 302
        counts = today_counts(tenant)
        assert counts["requests"] == 1
        return counts["rows_written"]

    bare = publish("")
    # Two new tags: two tag rows and two links; the same tags again: two links only.
    assert publish("alpha, beta") == bare + 4
    assert publish("alpha, beta") == bare + 2
    # The post row and its search index (kept by triggers inside SQLite) at least.
    assert bare >= 2
    with tenant_context(tenant):
        assert Post.objects.count() == 3


@pytest.mark.django_db
def test_nothing_is_counted_to_another_workspace(make_tenant, sign_in):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    add_posts(acme, 3)
    client = Client()
    sign_in(client, acme)
    metering.discard_pending()
    for _ in range(3):
        client.get("/", HTTP_HOST=host("acme"))
    client.post("/posts/new/", {"title": "T", "body": "B", "tags": ""}, HTTP_HOST=host("acme"))
    assert today_counts(acme)["requests"] == 4
    assert metering.pending_counts(globex) == {}
    metering.flush()
    assert globex.usage_days.count() == 0
    assert acme.usage_days.get().requests == 4


@pytest.mark.django_db
def test_api_calls_and_rows_of_a_plain_connection_are_counted(make_tenant):
    tenant = make_tenant("acme")
    metering.count_api_call(tenant)
    metering.count_api_call(tenant)
    metering.count_rows(tenant, read=40, written=2)
    counts = today_counts(tenant)
    assert (counts["api_calls"], counts["rows_read"], counts["rows_written"]) == (2, 40, 2)
    assert counts["requests"] == 0


@pytest.mark.django_db
def test_counting_and_flushing_never_write_to_the_workspace_file(make_tenant, sign_in):
    tenant = make_tenant("acme")
    add_posts(tenant, 3)
    client = Client()
    sign_in(client, tenant)
    client.get("/", HTTP_HOST=host("acme"))
    with tenant_context(tenant):
        before = work.commit_position()
    path = database_path("acme")
    wal = path.with_name(path.name + "-wal")
    sizes = (path.stat().st_size, wal.stat().st_size)
    for _ in range(3):
        client.get("/", HTTP_HOST=host("acme"))
    metering.flush()
    assert tenant.usage_days.get().requests >= 3
    with tenant_context(tenant):
        assert work.commit_position() == before
    assert (path.stat().st_size, wal.stat().st_size) == sizes
