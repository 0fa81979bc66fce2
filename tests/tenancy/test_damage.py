"""A damaged or missing workspace file is named by every fleet command, never fatal."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.tenancy.fleet.doctor import DAMAGED, MISSING, OK, tenant_health
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import database_path, release_all

ADD_PINNED = {"posts": "tests.fleet_migrations.add_pinned"}
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


def has_pinned(slug: str) -> bool:
    with sqlite3.connect(database_path(slug)) as raw:
        return "pinned" in [row[1] for row in raw.execute("PRAGMA table_info(posts_post)")]


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


# list_tenants ---------------------------------------------------------------------


def test_list_tenants_lists_everyone_and_names_damaged_and_missing(make_tenant):
    for slug in ("acme", "beta", "gone", "zeta"):
        make_tenant(slug)
    damage("beta", "malformed")
    damage("gone", "missing")
    output = run_failing(
        "list_tenants",
        match=rf"2 workspace\(s\) could not be read: beta \({MALFORMED}\), gone \(missing: ",
    )
    rows = {line.split()[0]: line for line in output.splitlines()[1:] if line[0] != " "}
    assert list(rows) == ["acme", "beta", "gone", "zeta"]
    assert "ok" in rows["acme"].split() and "up to date" in rows["zeta"]
    assert rows["beta"].split()[2] == "damaged" and rows["gone"].split()[2] == "missing"
    assert "  damaged: database disk image is malformed (SQLITE_CORRUPT)" in output
    assert "  missing: file not found: " in output


def test_list_tenants_json_carries_health_and_error(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    damage("beta", "garbage")
    output = run_failing("list_tenants", "--json", match=r"1 workspace\(s\) could not be read")
    rows = {row["slug"]: row for row in json.loads(output)}
    assert rows["acme"]["health"] == "ok" and rows["acme"]["migrations"] == "up to date"
    assert rows["beta"]["health"] == "damaged"
    assert rows["beta"]["error"] == "file is not a database (SQLITE_NOTADB)"


def test_list_tenants_of_a_healthy_fleet_still_exits_zero(make_tenant):
    make_tenant("acme")
    rows = json.loads(run("list_tenants", "--json"))
    assert rows[0]["health"] == "ok" and rows[0]["error"] == ""


# migrate_tenants ------------------------------------------------------------------


def test_migrate_tenants_migrates_the_others_and_names_the_damaged(make_tenant, settings):
    for slug in ("acme", "beta", "zeta"):
        make_tenant(slug)
    damage("beta", "truncated")
    settings.MIGRATION_MODULES = ADD_PINNED
    output = run_failing(
        "migrate_tenants",
        "--workers",
        "1",
        match=rf"1 tenant\(s\) failed to migrate:\n  beta: {NOT_A_DATABASE}",
    )
    assert "acme: applied 1 migration(s)" in output
    assert "zeta: applied 1 migration(s)" in output
    assert "beta: FAILED: damaged: file is not a database (SQLITE_NOTADB)" in output
    assert has_pinned("acme") and has_pinned("zeta")


def test_migrate_tenants_json_names_damaged_and_missing(make_tenant, settings):
    for slug in ("acme", "beta", "gone"):
        make_tenant(slug)
    damage("beta", "malformed")
    damage("gone", "missing")
    settings.MIGRATION_MODULES = ADD_PINNED
    output = run_failing(
        "migrate_tenants", "--workers", "1", "--json", match=r"2 tenant\(s\) failed"
    )
    summary = json.loads(output)
    assert [m["slug"] for m in summary["migrated"]] == ["acme"]
    failed = {entry["slug"]: entry for entry in summary["failed"]}
    assert failed["beta"]["health"] == "damaged"
    assert failed["beta"]["error"] == "damaged: database disk image is malformed (SQLITE_CORRUPT)"
    assert failed["gone"]["health"] == "missing"
    assert failed["gone"]["error"].startswith("missing: file not found: ")


def test_migrate_tenants_leaves_an_empty_file_empty(make_tenant):
    make_tenant("acme")
    path = damage("acme", "empty")
    run_failing("migrate_tenants", match=r"acme: damaged: the file is empty \(0 bytes\)")
    assert path.stat().st_size == 0  # not migrated into a blank workspace


def test_migrate_tenants_check_lists_damaged_and_exits_nonzero(make_tenant):
    for slug in ("acme", "beta", "zeta"):
        make_tenant(slug)
    damage("beta", "garbage")
    output = run_failing(
        "migrate_tenants",
        "--check",
        match=rf"1 of 3 tenant\(s\) could not be read:\n  beta: {NOT_A_DATABASE}$",
    )
    assert "beta: damaged: file is not a database (SQLITE_NOTADB)" in output
    assert "up to date" not in output  # the run is not reported as fine


def test_migrate_tenants_check_json_lists_pending_and_problems(make_tenant, settings):
    make_tenant("acme")
    make_tenant("beta")
    damage("beta", "malformed")
    settings.MIGRATION_MODULES = ADD_PINNED
    output = run_failing("migrate_tenants", "--check", "--json", match="could not be read")
    assert json.loads(output) == {
        "tenants": 2,
        "pending": {"acme": 1},
        "problems": [
            {
                "slug": "beta",
                "health": "damaged",
                "error": "database disk image is malformed (SQLITE_CORRUPT)",
            }
        ],
    }


def test_migrate_tenants_plan_shows_every_plan_and_names_the_damaged(make_tenant, settings):
    make_tenant("acme")
    make_tenant("beta")
    damage("beta", "truncated")
    settings.MIGRATION_MODULES = ADD_PINNED
    text = run_failing("migrate_tenants", "--plan", match=rf"beta: {NOT_A_DATABASE}")
    assert "acme: posts.9001_post_pinned" in text
    output = run_failing("migrate_tenants", "--plan", "--json", match="could not be read")
    assert json.loads(output) == {
        "acme": ["posts.9001_post_pinned"],
        "beta": {"health": "damaged", "error": "file is not a database (SQLITE_NOTADB)"},
    }


# tenant_command -------------------------------------------------------------------


def test_tenant_command_runs_everywhere_else_and_names_the_damaged(make_tenant, capsys):
    for slug in ("acme", "beta", "gone", "zeta"):
        make_tenant(slug)
    damage("beta", "garbage")
    damage("gone", "missing")
    code = "from apps.posts.models import Post; print('count', Post.objects.count())"
    output = run_failing(
        "tenant_command",
        "shell",
        "--all-tenants",
        "-c",
        code,
        match=rf"Failed in 2 tenant\(s\):\n  beta: {NOT_A_DATABASE}\n  gone: missing: ",
    )
    assert "Ran in 2 of 4 tenant(s)." in output
    assert "beta: FAILED: damaged: file is not a database (SQLITE_NOTADB)" in output
    assert capsys.readouterr().out.count("count 0") == 2  # acme and zeta


def test_tenant_command_names_damage_found_by_the_command_itself(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    damage("beta", "deep")  # opens fine; reading the users table fails
    output = run_failing(
        "tenant_command",
        "dumpdata",
        "accounts.user",
        "--all-tenants",
        match=rf"Failed in 1 tenant\(s\):\n  beta: {MALFORMED}",
    )
    assert "admin@acme.example" in output


# commands about one workspace -----------------------------------------------------


def test_backup_of_a_damaged_workspace_is_a_command_error_naming_it(make_tenant, tmp_path):
    make_tenant("acme")
    damage("acme", "garbage")
    with pytest.raises(CommandError, match=rf"'acme': {NOT_A_DATABASE} \(see check_tenants\)"):
        run("backup_tenant", "acme", "-o", str(tmp_path / "copy.sqlite3"))


def test_restore_node_goes_on_past_a_tenant_whose_file_sqlite_rejects(
    make_tenant, settings, monkeypatch
):
    from apps.tenancy.fleet import schema
    from apps.tenancy.management.commands import restore_node

    for slug in ("acme", "beta", "zeta"):
        make_tenant(slug)
    Tenant.objects.update(home_node="node-2")
    damage("beta", "garbage")
    adopted = []

    def adopt_reading_the_file(*, tenant: Tenant) -> None:
        schema.applied_nodes(database_path(tenant.slug))  # raw sqlite3 on the file
        adopted.append(tenant.slug)

    monkeypatch.setattr(restore_node, "tenant_adopt", adopt_reading_the_file)
    output = run_failing(
        "restore_node", "--from", "node-2", match=r"1 tenant\(s\) could not be restored: beta"
    )
    assert adopted == ["acme", "zeta"]
    assert "beta: FAILED: damaged: file is not a database (SQLITE_NOTADB)" in output


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
