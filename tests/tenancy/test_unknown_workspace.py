"""A host naming no workspace: a 404 page leading to the main site, not back to itself."""

import pytest
from django.test import override_settings

from apps.tenancy.models import Tenant
from tests.conftest import host


def test_unknown_workspace_links_to_the_main_site_and_its_finder(client, db):
    response = client.get("/login/", HTTP_HOST=host("nobody"))
    assert response.status_code == 404
    text = response.content.decode()
    assert "No workspace at “nobody”" in text
    assert 'href="http://quire.test/"' in text  # the home page, with the workspace finder
    assert 'href="http://quire.test/signup/"' in text
    assert '<a href="/' not in text and 'class="brand" href="/' not in text  # none stays here


@override_settings(DEBUG=True)
def test_unknown_workspace_page_is_shown_under_debug_too(client, db):
    response = client.get("/", HTTP_HOST=host("nobody"))
    assert response.status_code == 404
    assert b"No workspace at" in response.content
    assert b"Using the URLconf" not in response.content  # not Django's technical 404


@pytest.mark.parametrize("status", [Tenant.Status.PROVISIONING, Tenant.Status.DELETED])
def test_a_deleted_workspace_gets_the_same_page(client, make_tenant, status):
    tenant = make_tenant("acme")
    Tenant.objects.filter(pk=tenant.pk).update(status=status)
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 404 and b"No workspace at" in response.content


@override_settings(QUIRE_SUPPORT_EMAIL="help@quire.test")
def test_the_support_address_is_shown_where_users_need_it(client, make_tenant):
    unknown = client.get("/", HTTP_HOST=host("nobody")).content.decode()
    assert 'href="mailto:help@quire.test"' in unknown
    tenant = make_tenant("acme")
    missing = client.get("/no-such-page/", HTTP_HOST=host("acme")).content.decode()
    assert 'href="mailto:help@quire.test"' in missing
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.SUSPENDED)
    suspended = client.get("/", HTTP_HOST=host("acme")).content.decode()
    assert 'href="mailto:help@quire.test"' in suspended


def test_no_support_line_without_an_address(client, db):
    assert b"mailto:" not in client.get("/", HTTP_HOST=host("nobody")).content


@override_settings(QUIRE_SUPPORT_EMAIL="help@quire.test", TENANT_TRASH_RETENTION_DAYS=14)
def test_the_deleted_page_says_how_long_and_whom_to_write(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    sign_in(client, acme)
    done = client.post("/settings/delete/", {"confirm": "acme"}, HTTP_HOST=host("acme"))
    text = done.content.decode()
    assert done.status_code == 200 and "kept for 14 days" in text
    assert 'href="mailto:help@quire.test?subject=' in text and "(acme)" in text
    assert 'href="http://quire.test/"' in text
