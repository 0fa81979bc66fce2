"""The catalog on PostgreSQL, as several machines share it; tenants stay SQLite files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.crash.conftest import PASSWORD, Quire
from tests.replication.postgres import postgres_cluster


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def test_the_engine_runs_with_its_catalog_on_postgresql(postgres_url: str, tmp_path: Path):
    quire = Quire(tmp_path, DATABASE_URL=postgres_url)
    quire.manage("migrate", "--no-input")
    code = (
        "from apps.tenancy.fleet.services import tenant_create\n"
        "for n in range(24):\n"
        "    tenant_create(slug=f'pg-{n:02}', name='PG', admin_email='a@pg.example',"
        f" admin_password={PASSWORD!r})\n"
    )
    quire.manage("shell", "-c", code)
    with psycopg.connect(postgres_url) as catalog:
        rows = catalog.execute(
            "SELECT slug, status, home_node FROM tenancy_tenant ORDER BY slug"
        ).fetchall()
        tables = {
            name
            for (name,) in catalog.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    assert rows == [(f"pg-{n:02}", "active", "node-1") for n in range(24)]
    assert "tenancy_tenant" in tables and "posts_post" not in tables
    assert (quire.data / "pg-00.sqlite3").exists()

    listed = json.loads(quire.manage("list_tenants", "--json").stdout)
    assert [row["migrations"] for row in listed] == ["up to date"] * 24
    summary = json.loads(quire.manage("migrate_tenants", "--workers", "2", "--json").stdout)
    assert summary["up_to_date"] == 24 and summary["failed"] == []

    served = quire.manage(
        "shell",
        "-c",
        "from django.test import Client\n"
        "client = Client()\n"
        "response = client.post('/login/', {'username': 'a@pg.example', 'password': "
        f"{PASSWORD!r}}}, HTTP_HOST='pg-03.localhost')\n"
        "print(response.status_code, client.get('/', HTTP_HOST='pg-03.localhost').status_code)",
    )
    assert served.stdout.splitlines()[-1].split() == ["302", "200"]
    taken = quire.manage(
        "create_tenant", "pg-05", "--name", "X", "--admin-email", "b@x.example", check=False
    )
    assert taken.returncode == 1 and "already taken" in taken.stderr
