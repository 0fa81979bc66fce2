"""check_tenants: a damaged or missing workspace file is found and named."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.tenancy.databases import database_path, release_all
from apps.tenancy.doctor import DAMAGED, MISSING, OK, tenant_health
from apps.tenancy.models import Tenant

MALFORMED = r"damaged: database disk image is malformed \(SQLITE_CORRUPT\)"
NOT_A_DATABASE = r"damaged: file is not a database \(SQLITE_NOTADB\)"
PAGE = 4096


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_failing(*args: str, match: str) -> str:
    """Run a command that must end in a CommandError; return what it printed first."""
    out = StringIO()
    with pytest.raises(CommandError, match=match):
        call_command(*args, stdout=out)
    return out.getvalue()


def damage(slug: str, how: str) -> Path:
    """Damage a workspace's file as a disk, a bad copy or a person would."""
    release_all()  # no connection of this process stays open on the file
    path = database_path(slug)
    data = path.read_bytes()
    if how == "malformed":  # every page after the first overwritten
        path.write_bytes(data[:PAGE] + b"\xab" * (len(data) - PAGE))
    elif how == "truncated":
        path.write_bytes(data[:10])
    elif how == "garbage":
        path.write_bytes(b"this is not a database " * 100)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing":
        path.unlink()
    elif how == "deep":  # one table's page header broken: the ledger still reads
        offset = (_root_page(path, "accounts_user") - 1) * PAGE
        path.write_bytes(data[:offset] + b"\xff" * 8 + data[offset + 8 :])
    elif how == "index":  # an index no longer matches its table's rows
        _swap_index_columns(path)
    return path


def _root_page(path: Path, table: str) -> int:
    with sqlite3.connect(path) as raw:
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        return int(raw.execute(query, [table]).fetchone()[0])


def _swap_index_columns(path: Path) -> None:
    name = "django_content_type_app_label_model_76bd3d3b_uniq"
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA writable_schema = ON")
        raw.execute(
            "UPDATE sqlite_master SET sql = ? WHERE name = ?",
            [f'CREATE UNIQUE INDEX "{name}" ON "django_content_type" ("model", "app_label")', name],
        )
    finally:
        raw.close()


def ledger_error(slug: str) -> str:
    """Return SQLite's error name when reading the workspace's ledger (as list_tenants does)."""
    raw = sqlite3.connect(database_path(slug))
    try:
        raw.execute("SELECT app, name FROM django_migrations").fetchall()
    except sqlite3.Error as exc:
        return str(exc.sqlite_errorname)
    finally:
        raw.close()
    return "no error"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("malformed", "SQLITE_CORRUPT"),
        ("truncated", "SQLITE_NOTADB"),
        ("garbage", "SQLITE_NOTADB"),
        ("deep", "no error"),
    ],
)
def test_the_damage_made_here_is_what_sqlite_reports(make_tenant, how, error):
    make_tenant("acme")
    damage("acme", how)
    assert ledger_error("acme") == error


# check_tenants --------------------------------------------------------------------


def test_check_tenants_reports_ok_damaged_and_missing(make_tenant):
    for slug in ("acme", "beta", "deep", "gone", "zeta"):
        make_tenant(slug)
    beta = damage("beta", "malformed")
    deep = damage("deep", "deep")
    damage("gone", "missing")
    before = digest(beta), digest(deep)
    output = run_failing(
        "check_tenants",
        match=r"3 of 5 workspace\(s\) are not ok: beta \(damaged\), deep \(damaged\), "
        r"gone \(missing\)",
    )
    assert output.splitlines() == [
        "acme: ok",
        "beta: damaged: database disk image is malformed (SQLITE_CORRUPT)",
        "deep: damaged: database disk image is malformed (SQLITE_CORRUPT)",
        f"gone: missing: file not found: {database_path('gone')}",
        "zeta: ok",
        "5 workspace(s) checked with quick_check: 2 damaged, 1 missing, 2 ok.",
    ]
    assert (digest(beta), digest(deep)) == before  # checking never writes


def test_check_tenants_json_and_named_workspaces(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    make_tenant("zeta")
    damage("beta", "truncated")
    output = run_failing("check_tenants", "beta", "zeta", "--json", match=r"1 of 2 workspace")
    assert json.loads(output) == {
        "check": "quick_check",
        "tenants": [
            {
                "slug": "beta",
                "health": "damaged",
                "error": "file is not a database (SQLITE_NOTADB)",
            },
            {"slug": "zeta", "health": "ok", "error": ""},
        ],
        "counts": {"damaged": 1, "ok": 1},
    }
    assert run("check_tenants", "acme").splitlines()[-1] == (
        "1 workspace(s) checked with quick_check: 1 ok."
    )


def test_check_tenants_full_finds_what_quick_check_cannot(make_tenant):
    make_tenant("acme")
    damage("acme", "index")
    assert "acme: ok" in run("check_tenants")
    output = run_failing("check_tenants", "--full", match=r"acme \(damaged\)")
    assert "acme: damaged: row 1 missing from index django_content_type_app_label" in output
    assert "checked with integrity_check" in output


def test_check_tenants_refuses_unknown_workspaces(make_tenant):
    make_tenant("acme")
    with pytest.raises(CommandError, match=r"No such workspace \(active or suspended\): nope"):
        run("check_tenants", "acme", "nope")


def test_tenant_health_reads_an_empty_file_as_damaged(make_tenant):
    tenant = make_tenant("acme")
    assert tenant_health(tenant=tenant).status == OK
    damage("acme", "empty")
    health = tenant_health(tenant=tenant)
    assert health.status == DAMAGED and "the file is empty (0 bytes)" in health.reason
    damage("acme", "missing")
    assert tenant_health(tenant=Tenant.objects.get(slug="acme")).status == MISSING
