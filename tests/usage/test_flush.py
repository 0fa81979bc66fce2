"""Counts reach the catalog by flushes: once each, kept when the catalog refuses them."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connections

from apps.tenancy import metering
from apps.tenancy.models import UsageDay
from apps.tenancy.routing.databases import database_files

ROOT = Path(__file__).resolve().parents[2]


def today_row(tenant):
    return UsageDay.objects.get(tenant=tenant, day=datetime.now(UTC).date())


@pytest.mark.django_db
def test_a_flush_adds_the_counts_once(make_tenant):
    tenant = make_tenant("acme")
    metering.count_api_call(tenant)
    metering.count_rows(tenant, read=10, written=2)
    assert metering.flush() == 1
    row = today_row(tenant)
    assert (row.api_calls, row.rows_read, row.rows_written, row.requests) == (1, 10, 2, 0)
    assert metering.pending_counts(tenant) == {}
    assert metering.flush() == 0  # nothing new: nothing added
    metering.count_rows(tenant, read=5)
    metering.flush()
    row.refresh_from_db()
    assert (row.rows_read, row.rows_written) == (15, 2)


@pytest.mark.django_db
def test_storage_is_sampled_at_flush_from_the_file_and_its_wal(make_tenant):
    tenant = make_tenant("acme")
    metering.count_api_call(tenant)
    metering.flush()
    path, wal, _shm = database_files("acme")
    expected = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert today_row(tenant).storage_bytes == expected


@pytest.mark.django_db
def test_counts_the_catalog_refused_are_kept_for_the_next_flush(make_tenant, monkeypatch):
    tenant = make_tenant("acme")
    metering.count_rows(tenant, read=7)

    def refuse(batch):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(metering, "_upsert", refuse)
    with pytest.raises(DatabaseError):
        metering.flush()
    metering.count_rows(tenant, read=3)  # counted meanwhile
    monkeypatch.undo()
    metering.flush()
    assert today_row(tenant).rows_read == 10
    assert metering.flush() == 0


@pytest.mark.django_db
def test_counts_of_a_workspace_purged_meanwhile_are_dropped(make_tenant):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    metering.count_api_call(acme)
    metering.count_api_call(globex)
    globex.delete()
    assert metering.flush() == 1
    assert today_row(acme).api_calls == 1


COUNTING_PROCESS = """
import os, signal, sys, time
import django
django.setup()
from django.conf import settings
settings.QUIRE_USAGE_FLUSH_SECONDS = 0.1
from apps.tenancy import metering
from apps.tenancy.models import Tenant, UsageDay

tenant = Tenant.objects.get(slug="acme")
metering.count_rows(tenant, read=3)
deadline = time.monotonic() + 20
while not UsageDay.objects.filter(tenant=tenant, rows_read=3).exists():
    assert time.monotonic() < deadline, "the flushing thread never flushed"
    time.sleep(0.02)
metering.count_rows(tenant, read=40)  # not flushed yet when the process ends
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
sys.exit(0)
"""


def run_counting_process(how: str) -> subprocess.CompletedProcess:
    catalog = connections["default"].settings_dict["NAME"]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{catalog}",
        "TENANTS_DATA_DIR": str(settings.TENANTS_DATA_DIR),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(COUNTING_PROCESS), how],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_a_process_flushes_in_the_background_and_at_exit(make_tenant):
    tenant = make_tenant("acme")
    finished = run_counting_process("exit")
    assert finished.returncode == 0, finished.stderr.decode()
    assert today_row(tenant).rows_read == 43


@pytest.mark.django_db(transaction=True)
def test_a_killed_process_loses_only_what_it_had_not_flushed(make_tenant):
    tenant = make_tenant("acme")
    finished = run_counting_process("kill")
    assert finished.returncode == -signal.SIGKILL, finished.stderr.decode()
    assert today_row(tenant).rows_read == 3  # the 40 counted after the last flush are lost
