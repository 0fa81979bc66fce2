"""Suspend, resume, delete, purge, rename, clone, back up, export and restore tenants."""

import json
import sqlite3
import threading
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.exceptions import SlugTaken
from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, integrity_errors
from tests.conftest import PASSWORD, admin_email, host


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def add_posts(tenant: Tenant, *titles: str, author_email: str | None = None) -> None:
    with tenant_context(tenant):
        author = User.objects.get(email=author_email or admin_email(tenant.slug))
        for title in titles:
            post_create(author=author, title=title, body=f"body of {title}")


def titles(tenant: Tenant) -> list[str]:
    with tenant_context(tenant):
        return sorted(Post.objects.values_list("title", flat=True))


def test_suspend_and_resume(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    add_posts(acme, "kept")
    assert "Suspended 'acme'" in run("suspend_tenant", "acme")
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 403
    with pytest.raises(CommandError, match="'acme' is suspended; only active ones suspend"):
        run("suspend_tenant", "acme")
    assert "Resumed 'acme'" in run("resume_tenant", "acme")
    sign_in(client, acme)
    assert b"kept" in client.get("/", HTTP_HOST=host("acme")).content


def test_unknown_slug_is_a_clear_command_error(db):
    for command in ("suspend_tenant", "resume_tenant", "delete_tenant", "backup_tenant"):
        with pytest.raises(CommandError, match="No tenant 'nope' in the catalog"):
            run(command, "nope")


def test_soft_delete_trashes_files_and_holds_the_slug_until_purge(
    client, make_tenant, tenants_data_dir, settings
):
    acme = make_tenant("acme")
    add_posts(acme, "precious")
    output = run("delete_tenant", "acme")
    assert "Moved 'acme' to the trash" in output
    assert not any(tenants_data_dir.glob("acme.sqlite3*"))
    trashed = list((tenants_data_dir / ".trash").glob("acme.deleted.*/acme.sqlite3"))
    assert len(trashed) == 1
    with sqlite3.connect(trashed[0]) as raw:
        assert raw.execute("SELECT title FROM posts_post").fetchall() == [("precious",)]
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 404
    with pytest.raises(SlugTaken):
        tenant_create(slug="acme", name="A", admin_email="a@a.example", admin_password=PASSWORD)

    assert "Purged 0 trash folder(s)" in run("purge_tenants")
    Tenant.objects.filter(slug="acme").update(deleted_at=timezone.now() - timedelta(days=31))
    settings.TENANT_TRASH_RETENTION_DAYS = 30
    # The trash folder's own time stamp decides too: age it like the row.
    folder = trashed[0].parent
    old = folder.with_name(f"acme.deleted.{(timezone.now() - timedelta(days=31)):%Y%m%dT%H%M%S%fZ}")
    folder.rename(old)
    assert "Purged 1 trash folder(s)" in run("purge_tenants")
    assert not old.exists()
    assert tenant_create(slug="acme", name="A", admin_email="a@a.example", admin_password=PASSWORD)


def test_hard_delete_asks_for_the_slug(make_tenant, tenants_data_dir, monkeypatch):
    make_tenant("acme")
    monkeypatch.setattr("builtins.input", lambda prompt: "wrong")
    with pytest.raises(CommandError, match="Not confirmed; nothing was deleted"):
        run("delete_tenant", "acme", "--hard")
    assert database_path("acme").exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "acme")
    assert "Deleted 'acme' for good" in run("delete_tenant", "acme", "--hard")
    assert not any(tenants_data_dir.rglob("acme.sqlite3*"))
    assert not Tenant.objects.filter(slug="acme").exists()


def test_rename_moves_the_workspace_and_its_data(client, make_tenant, sign_in):
    make_tenant("beta")
    acme = make_tenant("acme")
    add_posts(acme, "travels along")
    output = run("rename_tenant", "acme", "acme-corp")
    assert "Renamed 'acme' to 'acme-corp'" in output and "http://acme-corp.quire.test/" in output
    assert client.get("/login/", HTTP_HOST=host("acme")).status_code == 404
    renamed = Tenant.objects.get(slug="acme-corp")
    assert renamed.status == Tenant.Status.ACTIVE
    assert titles(renamed) == ["travels along"]
    with pytest.raises(CommandError, match="'beta' is already taken"):
        run("rename_tenant", "acme-corp", "beta")
    with pytest.raises(CommandError, match="reserved"):
        run("rename_tenant", "acme-corp", "www")
    assert database_path("acme-corp").exists() and database_path("beta").exists()


def write_posts_while(tenant: Tenant, action):
    """Run action while another thread keeps writing posts; return what it returned."""
    stop = threading.Event()
    written = []

    def writer():
        try:
            while not stop.is_set():
                add_posts(tenant, f"live-{len(written)}")
                written.append(1)
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            stop.wait(0.01)
        return action()
    finally:
        stop.set()
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_clone_and_backup_are_consistent_while_the_source_takes_writes(make_tenant, tmp_path):
    acme = make_tenant("acme")
    write_posts_while(acme, lambda: run("clone_tenant", "acme", "acme-copy"))
    backup = tmp_path / "acme.sqlite3"
    write_posts_while(acme, lambda: run("backup_tenant", "acme", "-o", str(backup)))
    clone = Tenant.objects.get(slug="acme-copy")
    assert clone.name == "Acme (copy)" and clone.status == Tenant.Status.ACTIVE
    assert integrity_errors(database_path("acme-copy")) == []
    assert integrity_errors(backup) == []
    copied = titles(clone)
    assert copied and set(copied) <= set(titles(acme))
    with pytest.raises(CommandError, match="already exists; it was left untouched"):
        run("backup_tenant", "acme", "-o", str(backup))


FTS_SQL = """
CREATE VIRTUAL TABLE post_search USING fts5(title, body, content='posts_post', content_rowid='id');
INSERT INTO post_search(post_search) VALUES('rebuild');
CREATE TRIGGER post_search_ai AFTER INSERT ON posts_post BEGIN
  INSERT INTO post_search(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
"""


def search(path: Path, query: str) -> list[str]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT p.title FROM post_search JOIN posts_post p ON p.id = post_search.rowid "
            "WHERE post_search MATCH ? ORDER BY p.title",
            (query,),
        )
        return [title for (title,) in rows]


def test_sql_export_reimports_with_full_text_search(make_tenant, tmp_path):
    acme = make_tenant("acme")
    add_posts(acme, "Quarterly planning", "Holiday rota")
    with sqlite3.connect(database_path("acme")) as raw:
        raw.executescript(FTS_SQL)
    dump = tmp_path / "acme.sql"
    assert "Exported 'acme'" in run("export_tenant", "acme", "--format", "sql", "-o", str(dump))
    assert "CREATE VIRTUAL TABLE post_search" in dump.read_text()

    output = run("restore_tenant", "acme-restored", "--from", str(dump), "--name", "Restored")
    assert "Created 'acme-restored'" in output
    restored = Tenant.objects.get(slug="acme-restored")
    assert titles(restored) == ["Holiday rota", "Quarterly planning"]
    assert search(database_path("acme-restored"), "plan*") == ["Quarterly planning"]
    # The trigger came along and still indexes.
    add_posts(restored, "Planning retro", author_email=admin_email("acme"))
    assert search(database_path("acme-restored"), "plan*") == [
        "Planning retro",
        "Quarterly planning",
    ]
    assert integrity_errors(database_path("acme-restored")) == []


def test_sqlite_export_and_in_place_restore_keeps_the_replaced_file(
    client, make_tenant, sign_in, tmp_path, tenants_data_dir
):
    acme = make_tenant("acme")
    sign_in(client, acme)
    add_posts(acme, "before backup")
    snapshot = tmp_path / "acme.sqlite3"
    run("export_tenant", "acme", "--format", "sqlite", "-o", str(snapshot))
    add_posts(acme, "after backup")
    assert b"after backup" in client.get("/", HTTP_HOST=host("acme")).content

    output = run("restore_tenant", "acme", "--from", str(snapshot))
    assert "Restored 'acme'" in output and "The replaced files are kept in" in output
    assert titles(acme) == ["before backup"]
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE
    replaced = next((tenants_data_dir / ".trash").glob("acme.replaced.*/acme.sqlite3"))
    with sqlite3.connect(replaced) as raw:
        assert ("after backup",) in raw.execute("SELECT title FROM posts_post").fetchall()
    # A worker that kept a connection open on the old file notices the swap.
    page = client.get("/", HTTP_HOST=host("acme")).content
    assert b"before backup" in page and b"after backup" not in page


def test_restore_refuses_bad_files(make_tenant, tmp_path):
    make_tenant("acme")
    missing = tmp_path / "nothing.sqlite3"
    with pytest.raises(CommandError, match="No such file"):
        run("restore_tenant", "acme", "--from", str(missing))
    garbage = tmp_path / "garbage.sql"
    garbage.write_bytes(b"\x00\xff not sql")
    with pytest.raises(CommandError, match="neither a SQLite database nor a SQL dump"):
        run("restore_tenant", "acme", "--from", str(garbage))
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(CommandError, match="not a Quire tenant database"):
        run("restore_tenant", "acme", "--from", str(foreign))
    newer = tmp_path / "newer.sqlite3"
    run("backup_tenant", "acme", "-o", str(newer))
    with sqlite3.connect(newer) as raw:
        raw.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES ('posts', '0099_future', '')"
        )
    with pytest.raises(CommandError, match=r"does not know: posts\.0099_future"):
        run("restore_tenant", "acme", "--from", str(newer))


def test_restore_refuses_a_corrupt_file(make_tenant, tmp_path):
    make_tenant("acme")
    broken = tmp_path / "broken.sqlite3"
    run("backup_tenant", "acme", "-o", str(broken))
    data = bytearray(broken.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size * 2 : page_size * 3] = b"\xde\xad" * (page_size // 2)
    broken.write_bytes(bytes(data))
    with pytest.raises(CommandError, match=r"integrity_check|malformed"):
        run("restore_tenant", "acme", "--from", str(broken))


def test_list_tenants_shows_migration_state_and_last_write(make_tenant, settings):
    make_tenant("acme")
    text = run("list_tenants")
    assert "up to date" in text and "LAST WRITE" in text
    settings.MIGRATION_MODULES = {"posts": "tests.fleet_migrations.add_pinned"}
    rows = json.loads(run("list_tenants", "--json"))
    assert rows[0]["migrations"] == "1 pending"
    assert rows[0]["last_activity"].startswith(str(timezone.now().year))


def test_tenant_command_runs_any_command_inside_a_tenant(make_tenant, capsys):
    acme = make_tenant("acme")
    make_tenant("beta")
    add_posts(acme, "one", "two")
    call_command(
        "tenant_command",
        "shell",
        "--tenant",
        "acme",
        "-c",
        "from apps.posts.models import Post; print('posts:', Post.objects.count())",
    )
    assert "posts: 2" in capsys.readouterr().out
    out = run("tenant_command", "dumpdata", "posts", "--tenant", "acme")
    assert [row["fields"]["title"] for row in json.loads(out)] == ["one", "two"]


def test_tenant_command_all_tenants_reports_each(make_tenant, capsys):
    add_posts(make_tenant("acme"), "a1")
    make_tenant("beta")
    output = run(
        "tenant_command",
        "shell",
        "--all-tenants",
        "-c",
        "from apps.posts.models import Post; print('count', Post.objects.count())",
    )
    assert "== acme ==" in output and "== beta ==" in output
    assert "Ran in 2 of 2 tenant(s)." in output
    assert capsys.readouterr().out.count("count") == 2


def test_tenant_command_errors(make_tenant):
    make_tenant("acme")
    with pytest.raises(CommandError, match="Unknown command: 'nosuch'"):
        run("tenant_command", "nosuch", "--tenant", "acme")
    with pytest.raises(CommandError, match="exactly one of --tenant SLUG or --all-tenants"):
        run("tenant_command", "check")
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        run("tenant_command", "check", "--tenant", "nope")
