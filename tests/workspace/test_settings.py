import json
import sqlite3

import pytest

from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host


@pytest.fixture
def acme(make_tenant, client, sign_in):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        post_create(author=User.objects.get(email=admin_email("acme")), title="Hello", body="x")
    sign_in(client, tenant)
    return tenant


def test_rename_workspace(client, acme):
    client.post("/settings/", {"name": "Acme Corp"}, HTTP_HOST=host("acme"))
    assert Tenant.objects.get(slug="acme").name == "Acme Corp"
    assert b"Acme Corp" in client.get("/", HTTP_HOST=host("acme")).content


def test_export_json(client, acme):
    response = client.get("/settings/export.json", HTTP_HOST=host("acme"))
    assert response["Content-Disposition"].startswith('attachment; filename="acme-')
    data = json.loads(response.content)
    assert data["workspace"] == {"slug": "acme", "name": "Acme"}
    assert [p["fields"]["title"] for p in data["posts"]] == ["Hello"]
    assert "password" not in data["members"][0]["fields"]


def test_export_sqlite(client, acme, tmp_path):
    response = client.get("/settings/export.sqlite3", HTTP_HOST=host("acme"))
    target = tmp_path / "export.sqlite3"
    target.write_bytes(b"".join(response.streaming_content))
    with sqlite3.connect(target) as raw:
        assert raw.execute("SELECT title FROM posts_post").fetchall() == [("Hello",)]
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_delete_needs_the_typed_subdomain(client, acme, tenants_data_dir):
    wrong = client.post("/settings/delete/", {"confirm": "acm"}, HTTP_HOST=host("acme"))
    assert wrong.status_code == 400 and b"Type &#x27;acme&#x27; exactly" in wrong.content
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE
    done = client.post("/settings/delete/", {"confirm": "ACME"}, HTTP_HOST=host("acme"))
    assert done.status_code == 200 and b"was deleted" in done.content
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.DELETED
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 404
    assert list((tenants_data_dir / ".trash").glob("acme.deleted.*/acme.sqlite3"))


def test_settings_are_for_admins_only(client, make_tenant, make_member, sign_in):
    beta = make_tenant("beta")
    make_member(beta, "bob@beta.example")
    sign_in(client, beta, "bob@beta.example")
    for path in ("/settings/", "/settings/export.json", "/settings/export.sqlite3"):
        assert client.get(path, HTTP_HOST=host("beta")).status_code == 403
    assert (
        client.post("/settings/delete/", {"confirm": "beta"}, HTTP_HOST=host("beta")).status_code
        == 403
    )
