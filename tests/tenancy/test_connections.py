"""Many tenants in one process: a cap on open connections, least recently used closed."""

import os
import threading

import pytest
from django.db import connections
from django.test import Client

from apps.posts.models import Post
from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import closed_evicted, open_connection_count, release_all
from tests.conftest import PASSWORD, host


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_touching_more_tenants_than_the_cap_keeps_connections_bounded(make_tenant, settings):
    tenants = [make_tenant(f"tenant-{n:02}") for n in range(12)]
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 4
    baseline = open_files()
    for _ in range(3):
        for tenant in tenants:
            with tenant_context(tenant):
                assert Post.objects.count() == 0
            assert open_connection_count() <= 4
    # Each open tenant connection holds the file, its -wal and its -shm; evicted ones are
    # closed by the closer thread.
    closed_evicted()
    assert open_files() - baseline <= 4 * 3
    release_all()
    assert open_connection_count() == 0


def test_recently_used_connection_stays_open(make_tenant, settings):
    hot, *others = [make_tenant(f"tenant-{n}") for n in range(4)]
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 2
    for other in others:
        with tenant_context(hot):
            Post.objects.count()
        hot_connection = connections[f"tenant:{hot.slug}"].connection
        with tenant_context(other):
            Post.objects.count()
        assert connections[f"tenant:{hot.slug}"].connection is hot_connection


@pytest.mark.django_db(transaction=True)
def test_concurrent_provisioning_builds_the_template_once(settings, tmp_path):
    settings.TENANT_TEMPLATE_DIR = tmp_path / "cold-templates"
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def sign_up(n: int) -> None:
        try:
            barrier.wait()
            tenant_create(
                slug=f"team-{n}", name="T", admin_email="a@t.example", admin_password=PASSWORD
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()
            release_all()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Tenant.objects.filter(status=Tenant.Status.ACTIVE).count() == 4
    built = sorted(path.name for path in (tmp_path / "cold-templates").iterdir())
    assert len([name for name in built if name.endswith(".sqlite3")]) == 1
    assert not [name for name in built if "building" in name]


@pytest.mark.django_db(transaction=True)
def test_a_workspace_served_again_outlasts_workspaces_read_once(make_tenant, sign_in, settings):
    regular, *passing = [make_tenant(f"tenant-{n}") for n in range(6)]
    clients = {tenant.slug: Client() for tenant in (regular, *passing)}
    for tenant in (regular, *passing):
        sign_in(clients[tenant.slug], tenant)
    release_all()
    settings.TENANT_MAX_OPEN_CONNECTIONS = 3

    def read(tenant: Tenant) -> None:
        assert clients[tenant.slug].get("/", HTTP_HOST=host(tenant.slug)).status_code == 200

    read(regular)
    read(regular)  # served again: closed after the connections that served once
    kept = connections[f"tenant:{regular.slug}"].connection
    assert kept is not None
    for tenant in passing:  # more than the cap, each once: least recently used would close it
        read(tenant)
        assert open_connection_count() <= 3
    read(regular)
    assert connections[f"tenant:{regular.slug}"].connection is kept
