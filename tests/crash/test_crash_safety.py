"""Processes killed with SIGKILL: no acknowledged write lost, nothing left half done."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading

from tests.crash.conftest import (
    PASSWORD,
    HttpSession,
    Quire,
    free_port,
    kill_group,
    wait_until,
)

SLOW_SETTINGS = "tests.crash.slow_migration_settings"


def worker_pids(master: int) -> list[int]:
    """Return the gunicorn workers: the master's child processes."""
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


def test_a_killed_worker_loses_no_acknowledged_write(quire: Quire, secret: str):
    port = free_port()
    serving = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secret,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
        "GUNICORN_ACCESS_LOG": "",
    }
    quire.manage("collectstatic", "--no-input", "-v0", **serving)
    quire.manage(
        "create_tenant",
        "acme",
        "--name",
        "Acme",
        "--admin-email",
        "boss@acme.example",
        "--admin-password",
        PASSWORD,
    )
    server = quire.start("-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi", **serving)
    try:
        client = HttpSession(port, f"acme.localhost:{port}")
        wait_until(lambda: _answers(client), what="gunicorn to answer")
        client.sign_in("boss@acme.example", PASSWORD)
        client.request("GET", "/posts/new/")
        acked: list[str] = []
        acked_after_kill: list[str] = []
        killed = threading.Event()

        def write() -> None:
            for n in range(150):
                title = f"write-{n}"
                try:
                    status, _ = client.request("POST", "/posts/new/", {"title": title, "body": "x"})
                except OSError:
                    continue  # the worker died under this request: not acknowledged
                if status == 302:
                    (acked_after_kill if killed.is_set() else acked).append(title)

        writer = threading.Thread(target=write)
        writer.start()
        wait_until(lambda: len(acked) >= 20, what="20 acknowledged writes")
        os.kill(worker_pids(server.pid)[0], signal.SIGKILL)
        killed.set()
        writer.join()
        assert acked_after_kill, "the service stopped answering after the kill"
        assert client.request("GET", "/")[0] == 200
    finally:
        kill_group(server)

    stored = {title for (title,) in quire.tenant("acme", "SELECT title FROM posts_post")}
    assert set(acked) | set(acked_after_kill) <= stored
    assert quire.tenant("acme", "PRAGMA integrity_check") == [("ok",)]
    assert quire.catalog("PRAGMA integrity_check") == [("ok",)]


def _answers(client: HttpSession) -> bool:
    try:
        return client.request("GET", "/healthz")[0] == 200
    except OSError:
        return False


def create_tenants(quire: Quire, slugs: list[str], **env: str):
    code = (
        "from apps.tenancy.models import Tenant\n"
        "from apps.tenancy.fleet.services import tenant_create\n"
        f"for slug in {slugs!r}:\n"
        "    if not Tenant.objects.filter(slug=slug, status='active').exists():\n"
        "        tenant_create(slug=slug, name=slug, admin_email='a@' + slug + '.example',"
        f" admin_password={PASSWORD!r})\n"
    )
    return quire.start("manage.py", "shell", "-c", code, **env)


def migration_state(quire: Quire, slug: str) -> tuple[bool, bool, bool]:
    ledger = {
        name
        for (name,) in quire.tenant(slug, "SELECT name FROM django_migrations WHERE app='posts'")
    }
    columns = {row[1] for row in quire.tenant(slug, "PRAGMA table_info(posts_post)")}
    return ("9001_post_pinned" in ledger, "9003_pause" in ledger, "pinned" in columns)


def test_killing_migrate_tenants_midway_leaves_no_tenant_half_migrated(quire: Quire):
    slugs = [f"team-{n:02}" for n in range(24)]
    assert create_tenants(quire, slugs).wait() == 0
    run = quire.start(
        "manage.py", "migrate_tenants", "--workers", "2", DJANGO_SETTINGS_MODULE=SLOW_SETTINGS
    )
    wait_until(lambda: sum(migration_state(quire, s)[0] for s in slugs) >= 3, what="3 migrated")
    kill_group(run)

    states = {slug: migration_state(quire, slug) for slug in slugs}
    assert set(states.values()) <= {(True, True, True), (False, False, False)}, states
    done = sum(state[0] for state in states.values())
    assert 0 < done < len(slugs), "the kill did not land midway"

    again = quire.start(
        "manage.py", "migrate_tenants", "--workers", "2", DJANGO_SETTINGS_MODULE=SLOW_SETTINGS
    )
    assert again.wait(timeout=120) == 0, again.stderr.read() if again.stderr else ""
    assert all(migration_state(quire, slug) == (True, True, True) for slug in slugs)


def test_killing_provisioning_midway_then_rerunning_converges(quire: Quire):
    slugs = [f"shop-{n:02}" for n in range(30)]
    run = create_tenants(quire, slugs)
    wait_until(
        lambda: len(quire.catalog("SELECT 1 FROM tenancy_tenant WHERE status='active'")) >= 4,
        what="4 tenants created",
    )
    kill_group(run)
    assert len(quire.catalog("SELECT 1 FROM tenancy_tenant")) < len(slugs), "the kill came too late"

    # The rerun happens after the crash, so any unfinished claim is known dead.
    rerun = create_tenants(quire, slugs, TENANT_PROVISIONING_TIMEOUT="0")
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""

    assert sorted(quire.catalog("SELECT slug, status FROM tenancy_tenant")) == [
        (slug, "active") for slug in slugs
    ]
    files = sorted(path.name for path in quire.data.iterdir() if path.is_file())
    assert [name for name in files if not name.endswith((".sqlite3", "-wal", "-shm"))] == []
    assert sorted(name for name in files if name.endswith(".sqlite3")) == [
        f"{s}.sqlite3" for s in slugs
    ]
    for slug in slugs:
        assert quire.tenant(slug, "PRAGMA integrity_check") == [("ok",)]
        assert quire.tenant(slug, "SELECT email FROM accounts_user") == [(f"a@{slug}.example",)]


def test_a_rename_killed_mid_way_is_completed_and_frees_the_old_name_cleanly(quire: Quire):
    create = ("--name", "Alpha", "--admin-email", "boss@alpha.example", "--admin-password")
    quire.manage("create_tenant", "alpha", *create, PASSWORD)
    writer = sqlite3.connect(quire.data / "alpha.sqlite3", isolation_level=None)
    writer.execute("CREATE TABLE acked (n INTEGER)")
    for n in range(30):  # acknowledged writes, still in the WAL
        writer.execute("INSERT INTO acked VALUES (?)", (n,))
    reader = sqlite3.connect(quire.data / "alpha.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM acked").fetchone()  # an open read holds the WAL
    rename = quire.start("manage.py", "rename_tenant", "alpha", "bravo")
    wait_until(
        lambda: (
            quire.catalog("SELECT status FROM tenancy_tenant WHERE slug = 'bravo'")
            == [("maintenance",)]
        ),
        what="the rename to reach its file move",
    )
    kill_group(rename)  # killed while it waits to fold the WAL in
    reader.execute("ROLLBACK")
    reader.close()
    writer.close()
    assert list((quire.data / ".journal").glob("*.json"))
    quire.manage("purge_tenants")
    assert quire.catalog("SELECT slug, status FROM tenancy_tenant") == [("bravo", "active")]
    assert quire.tenant("bravo", "SELECT count(*) FROM acked") == [(30,)]
    assert not list(quire.data.glob("alpha.sqlite3*"))
    quire.manage("create_tenant", "alpha", *create, PASSWORD)
    assert quire.tenant("alpha", "PRAGMA quick_check") == [("ok",)]
    assert quire.tenant("alpha", "SELECT count(*) FROM sqlite_master WHERE name = 'acked'") == [
        (0,)
    ]


def test_a_delete_killed_by_sigkill_leaves_nothing_that_blocks_the_slug(quire: Quire):
    create = ("--admin-email", "boss@alpha.example", "--admin-password", PASSWORD)
    quire.manage("create_tenant", "alpha", "--name", "Alpha", *create)
    writer = sqlite3.connect(quire.data / "alpha.sqlite3", isolation_level=None)
    writer.execute("CREATE TABLE acked (n INTEGER)")
    writer.execute("INSERT INTO acked VALUES (1)")
    reader = sqlite3.connect(quire.data / "alpha.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM acked").fetchone()  # holds the WAL: the fold waits
    delete = quire.start("manage.py", "delete_tenant", "alpha")
    wait_until(
        lambda: (
            quire.catalog("SELECT status FROM tenancy_tenant WHERE slug='alpha'") == [("deleted",)]
        ),
        what="the delete to stop serving alpha",
    )
    kill_group(delete)  # killed while it waits to fold the WAL in, before the files move
    reader.execute("ROLLBACK")
    reader.close()
    writer.close()
    quire.manage("purge_tenants", TENANT_TRASH_RETENTION_DAYS="0")
    assert quire.catalog("SELECT slug FROM tenancy_tenant") == []
    assert not list(quire.data.glob("alpha.sqlite3*"))  # the deleted workspace's data
    quire.manage("create_tenant", "alpha", "--name", "Alpha again", *create)
