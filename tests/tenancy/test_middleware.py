import asyncio

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import get_current_tenant
from apps.tenancy.routing.middleware import TenantMiddleware
from tests.conftest import host


def test_unknown_workspace_is_404_and_creates_no_file(client, db, tenants_data_dir):
    response = client.get("/", HTTP_HOST=host("nobody"))
    assert response.status_code == 404
    assert b"No workspace at" in response.content
    assert not (tenants_data_dir / "nobody.sqlite3").exists()


@pytest.mark.parametrize("status", [Tenant.Status.PROVISIONING, Tenant.Status.DELETED])
def test_workspace_provisioning_or_deleted_is_404(client, make_tenant, status):
    tenant = make_tenant("acme")
    Tenant.objects.filter(pk=tenant.pk).update(status=status)
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 404


def test_suspended_workspace_shows_the_suspended_page(client, make_tenant):
    tenant = make_tenant("acme")
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 403
    assert b"This workspace is suspended" in response.content


def test_catalog_row_without_file_never_creates_one(client, db, tenants_data_dir):
    Tenant.objects.create(slug="ghost", name="Ghost", status=Tenant.Status.ACTIVE)
    response = client.post(
        "/login/", {"username": "a@b.example", "password": "x"}, HTTP_HOST=host("ghost")
    )
    assert response.status_code == 503
    assert b"This workspace is unavailable" in response.content
    assert not (tenants_data_dir / "ghost.sqlite3").exists()


def test_host_outside_base_domain_is_400(client, db):
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400


@pytest.mark.parametrize("apex", ["quire.test", "www.quire.test", "QUIRE.TEST.:8000"])
def test_apex_serves_the_public_site(client, db, apex):
    response = client.get("/", HTTP_HOST=apex)
    assert response.status_code == 200
    assert b"Create your workspace" in response.content


def test_workspace_host_is_case_insensitive_and_tolerates_port_and_dot(client, make_tenant):
    make_tenant("acme")
    response = client.get("/login/", HTTP_HOST="ACME.quire.test.:8000")
    assert response.status_code == 200
    assert b"Sign in to Acme" in response.content


def test_async_middleware_activates_tenant_and_always_deactivates(make_tenant, transactional_db):
    make_tenant("acme")
    seen = []

    async def view(request):
        seen.append(get_current_tenant().slug)
        return HttpResponse("ok")

    middleware = TenantMiddleware(view)
    request = RequestFactory().get("/", HTTP_HOST=host("acme"))
    response = asyncio.run(middleware(request))
    assert response.status_code == 200
    assert seen == ["acme"]
    assert get_current_tenant() is None


def test_a_damaged_workspace_answers_503_and_the_others_are_served(
    make_tenant, sign_in, tenants_data_dir
):
    from django.test import Client

    from apps.tenancy.routing.databases import release_all

    client = Client(raise_request_exception=False)  # as served: errors become pages
    make_tenant("acme")
    beta = make_tenant("beta")
    sign_in(client, beta)
    release_all()
    (tenants_data_dir / "acme.sqlite3").write_bytes(b"this is no database at all" * 200)
    response = client.get("/", HTTP_HOST=host("acme"))  # reading the session fails first
    assert response.status_code == 503
    assert b"Its data could not be read" in response.content
    assert client.get("/", HTTP_HOST=host("beta")).status_code == 200
