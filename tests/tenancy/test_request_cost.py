"""What a request no longer reads again, and that every change still shows at once.

The catalog row of the tenant (kept per process until the catalog changes), the session
row and the signed-in member (kept per connection until the workspace's next write).
These tests use ``transactional_db``: with the catalog inside a test transaction, rows
are never kept (a transaction's reads may be rolled back).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.middleware import member_of
from apps.accounts.models import User
from apps.accounts.services import member_deactivate, member_set_role
from apps.tenancy.fleet.services import (
    tenant_clone,
    tenant_delete,
    tenant_rename,
    tenant_resume,
    tenant_suspend,
)
from apps.tenancy.models import Tenant
from apps.tenancy.routing import catalogcache
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, tenant_alias
from tests.conftest import PASSWORD, admin_email, host

NEW_PASSWORD = "another-Strong-pass-7"


@pytest.fixture(autouse=True)
def fresh_rows() -> Iterator[None]:
    catalogcache.forget()
    yield
    catalogcache.forget()


@pytest.fixture
def acme(transactional_db, make_tenant) -> Tenant:
    return make_tenant("acme")


def catalog_queries(client: Client, path: str, slug: str) -> tuple[int, int]:
    """Return (status, queries on the catalog) of one GET."""
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as queries:
        status = client.get(path, HTTP_HOST=host(slug)).status_code
    return status, len(queries)


def other_connection(path: str) -> sqlite3.Connection:
    """A connection of its own, as another worker or a command would have."""
    return sqlite3.connect(path, isolation_level=None)


def catalog_file() -> str:
    return str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"])


# The catalog row -----------------------------------------------------------------------


def test_the_catalog_row_is_read_once_then_kept(acme, client):
    assert catalog_queries(client, "/login/", "acme") == (200, 1)
    assert catalog_queries(client, "/login/", "acme") == (200, 0)


def test_suspend_and_resume_take_effect_on_the_next_request(acme, client):
    client.get("/login/", HTTP_HOST=host("acme"))
    tenant_suspend(tenant=acme)
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 403
    tenant_resume(tenant=acme)
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 200


def test_a_change_committed_by_another_process_takes_effect_at_once(acme, client):
    assert catalog_queries(client, "/login/", "acme") == (200, 1)
    with other_connection(catalog_file()) as other:
        other.execute("UPDATE tenancy_tenant SET status = 'suspended' WHERE slug = 'acme'")
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 403
    with other_connection(catalog_file()) as other:
        other.execute("UPDATE tenancy_tenant SET home_node = 'node-9' WHERE slug = 'acme'")
        other.execute("UPDATE tenancy_tenant SET status = 'active' WHERE slug = 'acme'")
    response = client.get("/login/", HTTP_HOST=host("acme"))
    assert response.status_code == 421 and response["X-Quire-Home-Node"] == "node-9"


def test_delete_and_rename_take_effect_on_the_next_request(acme, make_tenant, client):
    beta = make_tenant("beta")
    for slug in ("acme", "beta"):
        assert client.get("/login/", HTTP_HOST=host(slug)).status_code == 200
    tenant_delete(tenant=acme)
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 404
    tenant_rename(tenant=beta, new_slug="gamma")
    assert client.get("/login/", HTTP_HOST=host("beta")).status_code == 404
    assert b"Sign in to Beta" in client.get("/login/", HTTP_HOST=host("gamma")).content


def test_a_new_workspace_is_found_though_its_name_was_unknown_a_moment_before(
    transactional_db, make_tenant, client
):
    assert catalog_queries(client, "/login/", "newco") == (404, 1)
    assert catalog_queries(client, "/login/", "newco") == (404, 0)  # kept: nothing changed
    make_tenant("newco")
    assert client.get("/login/", HTTP_HOST=host("newco")).status_code == 200


def test_each_host_gets_its_own_workspace(acme, make_tenant, client):
    make_tenant("beta", name="Beta Corp")
    for _ in range(3):
        assert b"Sign in to Acme" in client.get("/login/", HTTP_HOST=host("acme")).content
        assert b"Sign in to Beta Corp" in client.get("/login/", HTTP_HOST=host("beta")).content


def test_a_lookup_inside_a_catalog_transaction_reads_the_catalog(acme):
    from apps.tenancy.fleet.selectors import tenant_get_for_request

    tenant_get_for_request(slug="acme")
    with pytest.raises(RuntimeError, match="rolled back"), transaction_on_catalog():
        Tenant.objects.filter(slug="acme").update(name="Renamed inside")
        assert tenant_get_for_request(slug="acme").name == "Renamed inside"
        raise RuntimeError("rolled back")
    assert tenant_get_for_request(slug="acme").name == "Acme"


def test_a_forked_worker_checks_the_catalog_on_a_connection_of_its_own(acme, client):
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 200
    parents = catalogcache._watch["connection"]
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 1
        try:
            inherited = bool(catalogcache._watch)
            checked = catalogcache._validity() is not None
            code = (
                0
                if not inherited and checked and catalogcache._watch["connection"] is not parents
                else 1
            )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert catalogcache._watch["connection"] is parents
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 200


def test_each_request_gets_its_own_tenant_instance(acme):
    from apps.tenancy.routing.middleware import TenantMiddleware

    middleware = TenantMiddleware(lambda request: None)
    first, second = middleware.tenant_from_slug("acme"), middleware.tenant_from_slug("acme")
    assert first is not second and first.pk == second.pk == acme.pk
    first.name = "Changed in one request only"
    assert second.name == middleware.tenant_from_slug("acme").name == "Acme"
    assert first.created_at == acme.created_at  # a field not kept is loaded on first use


def test_a_host_refused_once_is_refused_every_time(acme, client):
    for _ in range(2):
        assert client.get("/login/", HTTP_HOST="acme.elsewhere.test").status_code == 400


def test_a_host_kept_is_checked_again_when_the_base_domain_changes(acme, client, settings):
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 200
    settings.QUIRE_BASE_DOMAIN = "elsewhere.test"  # acme.quire.test names no workspace now
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 400


def transaction_on_catalog():
    from django.db import transaction

    return transaction.atomic(using=DEFAULT_DB_ALIAS)


def test_the_kept_rows_are_bounded(acme, make_tenant, client, settings):
    settings.TENANT_CATALOG_CACHE_SIZE = 2
    make_tenant("beta")
    for slug in ("acme", "beta", "nobody"):
        client.get("/login/", HTTP_HOST=host(slug))
    assert catalog_queries(client, "/login/", "acme") == (200, 1)  # the oldest went


def test_with_a_shared_catalog_rows_are_kept_for_the_configured_time(
    acme, client, settings, monkeypatch
):
    """A catalog server tells no process of changes: rows are kept a bounded time."""
    settings.TENANT_CATALOG_CACHE_SECONDS = 2.0
    clock = [1000.0]
    monkeypatch.setattr(catalogcache, "_validity", lambda: ("ttl",))
    monkeypatch.setattr(catalogcache, "exact", lambda: False)
    monkeypatch.setattr(catalogcache.time, "monotonic", lambda: clock[0])
    assert catalog_queries(client, "/login/", "acme") == (200, 1)
    with other_connection(catalog_file()) as other:  # suspended on another node
        other.execute("UPDATE tenancy_tenant SET status = 'suspended' WHERE slug = 'acme'")
    clock[0] += 1.9
    assert catalog_queries(client, "/login/", "acme") == (200, 0)  # within the bound
    clock[0] += 0.2
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 403


def test_with_a_shared_catalog_a_kept_row_is_trusted_only_to_serve_here(
    acme, client, settings, monkeypatch
):
    settings.TENANT_CATALOG_CACHE_SECONDS = 60.0
    monkeypatch.setattr(catalogcache, "_validity", lambda: ("ttl",))
    monkeypatch.setattr(catalogcache, "exact", lambda: False)
    client.get("/login/", HTTP_HOST=host("acme"))
    tenant_delete(tenant=acme)  # its file goes to the trash: the kept row is read again
    assert not database_path("acme").exists()
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 404


# The session and the member ------------------------------------------------------------


def member_queries(client: Client, slug: str = "acme", path: str = "/") -> tuple[int, list[str]]:
    """Return (status, the session and user queries on the workspace's file) of one GET."""
    with tenant_context(Tenant.objects.get(slug=slug)):
        alias = tenant_alias(slug)
    with CaptureQueriesContext(connections[alias]) as queries:
        status = client.get(path, HTTP_HOST=host(slug)).status_code
    tables = ("django_session", "accounts_user")
    return status, [
        q["sql"] for q in queries if any(f"FROM {t}" in q["sql"].replace('"', "") for t in tables)
    ]


def test_the_session_and_member_are_read_once_then_kept(acme, client, sign_in):
    sign_in(client, acme)
    status, first = member_queries(client)
    assert status == 200 and len(first) == 2
    assert member_queries(client) == (200, [])


def test_sign_out_takes_effect_at_once(acme, client, sign_in):
    sign_in(client, acme)
    cookie = client.cookies["sessionid"].value
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200
    client.post("/logout/", HTTP_HOST=host("acme"))
    client.cookies["sessionid"] = cookie  # the old cookie, replayed
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_a_session_ended_by_another_process_ends_at_once(acme, client, sign_in):
    sign_in(client, acme)
    assert member_queries(client)[0] == 200
    with other_connection(str(database_path("acme"))) as other:
        other.execute("DELETE FROM django_session")
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_password_change_signs_out_other_browsers_at_once(acme, client, sign_in):
    other_browser = Client()
    sign_in(client, acme)
    sign_in(other_browser, acme)
    assert member_queries(other_browser)[0] == 200
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200  # kept signed in
    assert other_browser.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_a_password_changed_by_another_process_signs_out_at_once(acme, client, sign_in):
    sign_in(client, acme)
    assert member_queries(client)[0] == 200
    with other_connection(str(database_path("acme"))) as other:
        other.execute("UPDATE accounts_user SET password = 'md5$x$changed'")
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_deactivation_takes_effect_at_once(acme, make_member, client, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme, "bob@acme.example")
    assert member_queries(client)[0] == 200
    with tenant_context(acme):
        member_deactivate(member=bob)
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_role_change_takes_effect_at_once(acme, make_member, client, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme, "bob@acme.example")
    assert member_queries(client, path="/members/")[0] == 403
    with tenant_context(acme):
        member_set_role(member=bob, role=User.Role.ADMIN)
    assert client.get("/members/", HTTP_HOST=host("acme")).status_code == 200
    with tenant_context(acme):
        member_set_role(member=bob, role=User.Role.MEMBER)
    assert client.get("/members/", HTTP_HOST=host("acme")).status_code == 403


def test_an_expired_session_is_not_served_from_memory(acme, client, sign_in, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    sign_in(client, acme)
    assert member_queries(client)[0] == 200
    later = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    monkeypatch.setattr("apps.accounts.sessions.timezone.now", lambda: later)
    monkeypatch.setattr("django.contrib.sessions.backends.db.timezone.now", lambda: later)
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_the_same_session_key_in_two_workspaces_stays_apart(acme, client, sign_in):
    """A clone carries the same session rows; signing out of one leaves the other signed in."""
    sign_in(client, acme)
    clone = tenant_clone(source=acme, slug="acme2", name="Acme two")
    cookie = client.cookies["sessionid"].value
    in_clone = Client()
    in_clone.cookies["sessionid"] = cookie
    assert member_queries(client)[0] == 200
    assert member_queries(in_clone, slug="acme2")[0] == 200
    with tenant_context(clone):
        Session.objects.all().delete()
    assert in_clone.get("/", HTTP_HOST=host("acme2")).status_code == 302
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200


def test_each_request_gets_its_own_member_instance(acme, client, sign_in, rf):
    from django.contrib.sessions.middleware import SessionMiddleware

    sign_in(client, acme)
    request = rf.get("/", HTTP_HOST=host("acme"))
    request.COOKIES["sessionid"] = client.cookies["sessionid"].value
    SessionMiddleware(lambda r: None).process_request(request)
    with tenant_context(acme):
        first, second = member_of(request), member_of(request)
        assert first.email == second.email == admin_email("acme")
        first.first_name = "Changed in one request only"
        assert member_of(request).first_name != first.first_name
        assert first is not second


def test_the_fixed_statement_reads_a_member_as_the_orm_does(acme, make_member):
    from apps.accounts.ratelimit import SignInThrottleBackend
    from apps.accounts.selectors import member_for_session

    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        User.objects.filter(pk=bob.pk).update(last_login=bob.date_joined)
        by_orm = User.objects.get(pk=bob.pk)
        fixed = member_for_session(pk=str(bob.pk))
        for field in User._meta.concrete_fields:
            assert getattr(fixed, field.attname) == getattr(by_orm, field.attname), field.name
            assert type(getattr(fixed, field.attname)) is type(getattr(by_orm, field.attname))
        assert member_for_session(pk=bob.pk + 100) is None
        User.objects.filter(pk=bob.pk).update(is_active=False)
        assert SignInThrottleBackend().get_user(bob.pk) is None


def test_an_evicted_connection_is_closed_off_the_request_path(acme, make_tenant, settings):
    from apps.posts.models import Post
    from apps.tenancy.routing.databases import closed_evicted, open_connection_count, release_all

    beta = make_tenant("beta")
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 1
    with tenant_context(acme):
        Post.objects.count()
    evicted = connections[tenant_alias("acme")].connection
    with tenant_context(beta):  # needs room: acme's connection is handed to the closer
        Post.objects.count()
    assert open_connection_count() == 1
    closed_evicted()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        evicted.execute("SELECT 1")
    with tenant_context(acme):  # and opens again when needed
        assert Post.objects.count() == 0


def test_a_connection_gives_back_its_cached_pages_after_the_request_that_opened_it(
    acme, client, sign_in, monkeypatch
):
    """Most workspaces read once are closed by the cap before they are read again."""
    from apps.tenancy.routing.databases import TenantDatabaseWrapper, release_all

    statements: list[str] = []
    opening = TenantDatabaseWrapper.get_new_connection

    def traced(wrapper: TenantDatabaseWrapper, params: dict) -> sqlite3.Connection:
        raw = opening(wrapper, params)
        raw.set_trace_callback(statements.append)
        return raw

    sign_in(client, acme)
    monkeypatch.setattr(TenantDatabaseWrapper, "get_new_connection", traced)
    release_all()
    for _ in range(3):
        assert client.get("/", HTTP_HOST=host("acme")).status_code == 200
    # Once, after the first request; a connection serving again keeps its pages.
    assert statements.count("PRAGMA shrink_memory") == 1
    release_all()
