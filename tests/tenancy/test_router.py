import sqlite3

import pytest
from django.contrib.sessions.models import Session
from django.db import connections

from apps.accounts.models import User
from apps.posts.models import Post
from apps.tenancy.exceptions import CrossTenantRelation, NoActiveTenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
from apps.tenancy.routing.router import TenantRouter
from tests.conftest import admin_email


def tables(path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}
    finally:
        connection.close()


@pytest.mark.django_db
def test_tenant_model_without_active_tenant_fails_closed():
    with pytest.raises(
        NoActiveTenant, match=r"posts\.Post lives in tenant databases and no tenant is active"
    ):
        Post.objects.count()
    with pytest.raises(NoActiveTenant, match=r"accounts\.User"):
        User.objects.create_user(email="x@example.com", password="x")


def test_queries_go_to_the_active_tenants_file(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        admin = User.objects.get(email=admin_email("acme"))
        Post.objects.create(title="Only in acme", body="", author=admin)
    with tenant_context(acme):
        assert Post.objects.count() == 1
    with tenant_context(beta):
        assert Post.objects.count() == 0
    with sqlite3.connect(database_path("acme")) as raw:
        assert raw.execute("SELECT title FROM posts_post").fetchall() == [("Only in acme",)]


def test_relation_between_two_tenants_is_refused(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        acme_admin = User.objects.get(email=admin_email("acme"))
    with tenant_context(beta), pytest.raises(CrossTenantRelation, match="belongs to tenant:acme"):
        Post(title="x", body="", author=acme_admin)
    with tenant_context(beta):
        beta_admin = User.objects.get(email=admin_email("beta"))
        beta_post = Post.objects.create(title="b", body="", author=beta_admin)
        with pytest.raises(CrossTenantRelation, match="different tenants"):
            beta_post.author = acme_admin


def test_object_of_one_tenant_is_not_saved_into_another(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        acme_admin = User.objects.get(email=admin_email("acme"))
    acme_admin.first_name = "Mallory"
    with tenant_context(beta), pytest.raises(CrossTenantRelation, match="tenant:acme"):
        acme_admin.save()


def test_migrations_land_in_the_right_files(make_tenant, tenants_data_dir):
    make_tenant("acme")
    tenant_tables = tables(database_path("acme"))
    assert {"accounts_user", "posts_post", "django_session", "django_content_type"} <= tenant_tables
    assert "tenancy_tenant" not in tenant_tables
    catalog_tables = tables(connections["default"].settings_dict["NAME"])
    assert "tenancy_tenant" in catalog_tables
    assert not catalog_tables & {"accounts_user", "posts_post", "django_session", "auth_group"}


def test_allow_migrate_separates_catalog_and_tenant_apps():
    router = TenantRouter()
    assert router.allow_migrate("tenant:acme", "posts") is True
    assert router.allow_migrate("tenant:acme", "tenancy") is False
    assert router.allow_migrate("default", "posts") is False
    assert router.allow_migrate("default", "tenancy") is True


@pytest.mark.django_db
def test_app_in_both_lists_uses_the_catalog_without_a_tenant(settings, make_tenant):
    settings.SHARED_APPS = [*settings.SHARED_APPS, "django.contrib.sessions"]
    router = TenantRouter()
    assert router.db_for_read(Session) == "default"
    acme = make_tenant("acme")
    with tenant_context(acme):
        assert router.db_for_read(Session) == "tenant:acme"
