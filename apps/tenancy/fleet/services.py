"""Create, migrate, copy and retire tenants."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils import timezone

from apps.tenancy.exceptions import (
    InvalidTenantState,
    MigrationFailed,
    RestoreRefused,
    SlugTaken,
    TenantDatabaseExists,
)
from apps.tenancy.fleet import journal, schema, trash
from apps.tenancy.fleet.doctor import tenant_health
from apps.tenancy.fleet.dump import iter_dump
from apps.tenancy.fleet.migrator import migrate_database, migrate_file
from apps.tenancy.fleet.recovery import clear_orphans, finish, recover
from apps.tenancy.fleet.slugs import validate_slug
from apps.tenancy.fleet.template import template_path
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes.bookmarks import start_new_epoch
from apps.tenancy.nodes.replication import ReplicationFailed, replica_restore, sync_now
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    companions,
    connect,
    copy_database,
    data_dir,
    database_files,
    database_path,
    delete_database_files,
    integrity_errors,
    move_database,
    place,
    release,
    replication_state_dir,
    require_database_file,
    scratch_path,
    snapshot,
    tenant_alias,
)
from apps.tenancy.routing.storage import copy_stored_files, files_beside, replace_stored_files
from apps.tenancy.routing.work import atomic

SQLITE_HEADER = b"SQLite format 3\x00"
Status = Tenant.Status


# Creating ---------------------------------------------------------------------------


def tenant_create(*, slug: str, name: str, admin_email: str, admin_password: str) -> Tenant:
    """Create an active tenant from the template database, with its admin user.

    All or nothing: if any step fails, the catalog row and the database file are
    removed and the slug can be claimed again.
    """
    validate_slug(slug)

    def seed() -> None:
        _admin_create(email=admin_email, password=admin_password)

    return _provision(slug=slug, name=name, source=template_path(), seed=seed)


def tenant_clone(*, source: Tenant, slug: str, name: str) -> Tenant:
    """Create a tenant from a consistent copy of another, taken while it serves writes."""
    _require_database(source, "cloned")
    validate_slug(slug)
    return _provision(slug=slug, name=name, source=require_database_file(source.slug))


def _provision(
    *, slug: str, name: str, source: Path, seed: Callable[[], None] | None = None
) -> Tenant:
    """Claim a slug, copy a database into place, seed it and activate the tenant."""
    recover()
    tenant = _tenant_claim(slug=slug, name=name)
    placed = False
    try:
        clear_orphans(slug)
        copy_database(source, database_path(slug))
        placed = True
        tenant_migrate(tenant=tenant)
        if seed is not None:
            with tenant_context(tenant), atomic():
                seed()
        tenant.activated_at = timezone.now()
        _status_set(tenant=tenant, status=Status.ACTIVE)
    except BaseException:
        _tenant_discard(tenant=tenant, delete_files=placed)
        raise
    return tenant


def _tenant_claim(*, slug: str, name: str) -> Tenant:
    """Insert the provisioning row; the unique slug lets exactly one claim win.

    A claim left by a provisioning that died (never activated, older than
    TENANT_PROVISIONING_TIMEOUT) is cleared first, so its slug can be used again.
    """
    tenant_reap_abandoned(slugs=[slug])
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            return Tenant.objects.create(
                slug=slug, name=name, status=Status.PROVISIONING, home_node=settings.QUIRE_NODE_ID
            )
    except IntegrityError:
        raise SlugTaken(f"The subdomain '{slug}' is already taken.") from None


def tenant_reap_abandoned(*, slugs: list[str] | None = None) -> list[str]:
    """Remove tenants whose provisioning died midway: their row and any file. Return them.

    Only rows never activated and older than TENANT_PROVISIONING_TIMEOUT qualify, so a
    provisioning still running, or a served tenant in the middle of a rename or
    restore, is never touched.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.TENANT_PROVISIONING_TIMEOUT)
    abandoned = Tenant.objects.filter(
        status=Status.PROVISIONING, activated_at__isnull=True, created_at__lte=cutoff
    )
    if slugs is not None:
        abandoned = abandoned.filter(slug__in=slugs)
    reaped = []
    for tenant in abandoned:
        delete_database_files(tenant.slug)
        for leftover in data_dir().glob(f".{tenant.slug}.sqlite3.*.tmp*"):
            leftover.unlink(missing_ok=True)
        Tenant.objects.filter(pk=tenant.pk, status=Status.PROVISIONING).delete()
        reaped.append(tenant.slug)
    return reaped


def _admin_create(*, email: str, password: str) -> None:
    user_model = get_user_model()
    fields = {"email": email, user_model.USERNAME_FIELD: email}
    user_model._default_manager.create_superuser(**fields, password=password)


def _tenant_discard(*, tenant: Tenant, delete_files: bool) -> None:
    if delete_files:
        delete_database_files(tenant.slug)
    Tenant.objects.filter(pk=tenant.pk).delete()


# Migrating --------------------------------------------------------------------------


def tenant_migrate(*, tenant: Tenant) -> list[str]:
    """Apply the tenant's pending migrations, all or none; return those applied."""
    path = require_database_file(tenant.slug)
    try:
        if not schema.pending_nodes(path):
            return []
        with tenant_context(tenant):
            return migrate_database(tenant_alias(tenant.slug))
    except Exception as exc:  # whatever broke, the tenant is as before: say what it was
        raise MigrationFailed(f"{type(exc).__name__}: {exc}") from exc


# Status -----------------------------------------------------------------------------


def tenant_update_name(*, tenant: Tenant, name: str) -> None:
    """Change the tenant's display name."""
    tenant.name = name.strip()
    tenant.save(update_fields=["name", "updated_at"])


def tenant_suspend(*, tenant: Tenant) -> None:
    """Stop serving the tenant; its data is kept as it is."""
    if tenant.status != Status.ACTIVE:
        raise InvalidTenantState(f"'{tenant.slug}' is {tenant.status}; only active ones suspend.")
    _status_set(tenant=tenant, status=Status.SUSPENDED)


def tenant_resume(*, tenant: Tenant) -> None:
    """Serve a suspended tenant again."""
    if tenant.status != Status.SUSPENDED:
        raise InvalidTenantState(f"'{tenant.slug}' is {tenant.status}, not suspended.")
    _status_set(tenant=tenant, status=Status.ACTIVE)


def _status_set(*, tenant: Tenant, status: str) -> None:
    tenant.status = status
    tenant.save(update_fields=["status", "deleted_at", "activated_at", "updated_at"])


def _require_database(tenant: Tenant, action: str) -> None:
    if not tenant.has_database:
        raise InvalidTenantState(f"'{tenant.slug}' is {tenant.status} and cannot be {action}.")


# Deleting ---------------------------------------------------------------------------


def tenant_delete(*, tenant: Tenant, hard: bool = False) -> Path | None:
    """Delete a tenant: to the trash (returned) by default, or for good with ``hard``.

    A soft-deleted tenant keeps its slug until ``tenant_purge`` runs after the
    retention period (``TENANT_TRASH_RETENTION_DAYS``). Journaled: a delete killed
    half-way is completed by the next ``recover``.
    """
    _require_database(tenant, "deleted")
    tenant.deleted_at = timezone.now()
    folder = None if hard else trash.trash_folder(tenant.slug, "deleted", tenant.deleted_at)
    entry = journal.Entry(
        op="delete",
        tenant_id=tenant.pk,
        status=Status.DELETED,
        source=tenant.slug,
        trash=str(folder or ""),
        started=tenant.deleted_at.timestamp(),
    )
    with journal.recorded(entry):
        _status_set(tenant=tenant, status=Status.DELETED)  # stop serving before files move
        finish(entry)
    return folder


def tenant_undelete(*, tenant: Tenant) -> Tenant:
    """Bring a soft-deleted tenant back from the trash, within the trash period.

    The database file (with its WAL and shared-memory files if they were trashed), its
    replication state and its stored files move back under its slug, and it is active
    again. Refused (``InvalidTenantState``, ``RestoreRefused``, ``TenantDatabaseExists``)
    when it is not deleted, its trash period is over, its trash copy is gone or files
    already sit under its slug. Journaled like a delete: a kill half-way is completed
    (or, with no file to bring back, undone) by the next ``recover``.
    """
    recover()
    tenant.refresh_from_db()
    folder = trash_copy_of(tenant)
    entry = journal.Entry(
        op="undelete",
        tenant_id=tenant.pk,
        status=Status.ACTIVE,
        source=tenant.slug,
        trash=str(folder),
    )
    with journal.recorded(entry):
        claimed = Tenant.objects.filter(pk=tenant.pk, status=Status.DELETED).update(
            status=Status.MAINTENANCE  # not served while its files come back
        )
        if not claimed:
            journal.remove(entry)
            raise InvalidTenantState(f"'{tenant.slug}' is no longer deleted; nothing was done.")
        finish(entry)
    tenant.refresh_from_db()
    if tenant.status != Status.ACTIVE:
        raise RestoreRefused(f"The trash copy of '{tenant.slug}' was gone; it stays deleted.")
    return tenant


def trash_copy_of(tenant: Tenant) -> Path:
    """Return the trash folder a deleted tenant can come back from, or say why not."""
    slug = tenant.slug
    if tenant.status != Status.DELETED or tenant.deleted_at is None:
        raise InvalidTenantState(f"'{slug}' is {tenant.status}, not deleted.")
    days = settings.TENANT_TRASH_RETENTION_DAYS
    if tenant.deleted_at < timezone.now() - timedelta(days=days):
        raise InvalidTenantState(
            f"'{slug}' was deleted more than {days} day(s) ago: its trash period is over."
        )
    folder = trash.trash_folder(slug, "deleted", tenant.deleted_at)
    if not folder.is_dir():  # the stamp round-trips through a float: allow a microsecond
        near = [
            candidate
            for candidate in trash.trash_dir().glob(f"{slug}.deleted.*")
            if abs((trash.stamp_of(candidate) - tenant.deleted_at).total_seconds()) < 0.001
        ]
        folder = near[0] if near else folder
    if not (folder / database_path(slug).name).exists():
        raise RestoreRefused(f"The trash copy of '{slug}' is gone ({folder} has no database).")
    if Tenant.objects.filter(slug=slug).exclude(pk=tenant.pk).exists():
        raise SlugTaken(f"The subdomain '{slug}' was taken by another workspace meanwhile.")
    if any(path.exists() for path in database_files(slug)):
        raise TenantDatabaseExists(f"Files for '{slug}' already exist in {data_dir()}.")
    return folder


@dataclass(frozen=True)
class PurgeReport:
    removed: list[str]  # trash folders deleted for good
    recovered: list[str]  # interrupted operations finished, leftovers swept
    reaped: list[str]  # slugs of sign-ups that died half-way, freed


def tenant_purge() -> PurgeReport:
    """Remove trash older than the retention period and free the deleted tenants' slugs.

    Tenants whose provisioning died midway, abandoned journals and scratch files are
    cleared too.
    """
    recovered = recover()
    reaped = tenant_reap_abandoned()
    cutoff = timezone.now() - timedelta(days=settings.TENANT_TRASH_RETENTION_DAYS)
    removed = []
    for folder in trash.trashed_before(cutoff):
        trash.remove(folder)
        removed.append(folder.name)
    Tenant.objects.filter(status=Status.DELETED, deleted_at__lt=cutoff).delete()
    return PurgeReport(removed=removed, recovered=recovered, reaped=reaped)


# Renaming ---------------------------------------------------------------------------


def tenant_rename(*, tenant: Tenant, new_slug: str) -> Tenant:
    """Give a tenant a new slug; its files move with it, as one journaled step.

    The tenant answers "briefly unavailable" while its files move. A kill at any point
    leaves a journal entry that the next command (or request) completes.
    """
    recover()
    tenant.refresh_from_db()
    _require_database(tenant, "renamed")
    validate_slug(new_slug)
    old_slug, status = tenant.slug, tenant.status
    if Tenant.objects.filter(slug=new_slug).exists():
        raise SlugTaken(f"The subdomain '{new_slug}' is already taken.")
    if any(path.exists() for path in database_files(new_slug)):
        raise TenantDatabaseExists(f"Files for '{new_slug}' already exist in {data_dir()}.")
    require_database_file(old_slug)
    entry = journal.Entry(
        op="rename", tenant_id=tenant.pk, status=status, source=old_slug, target=new_slug
    )
    with journal.recorded(entry):
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                Tenant.objects.filter(pk=tenant.pk).update(slug=new_slug, status=Status.MAINTENANCE)
        except IntegrityError:
            journal.remove(entry)
            raise SlugTaken(f"The subdomain '{new_slug}' is already taken.") from None
        _run_then_finish(entry, lambda: _move_files(old_slug, new_slug))
    tenant.refresh_from_db()
    return tenant


def _run_then_finish(entry: journal.Entry, steps: Callable[[], None]) -> None:
    """Run a journaled operation's steps, then finish it, even if a step failed.

    Finishing completes (or undoes) whatever the steps left; only a kill skips it, and
    then the next ``recover`` does it.
    """
    try:
        steps()
    except Exception:
        finish(entry)
        raise
    finish(entry)


def _move_files(old_slug: str, new_slug: str) -> None:
    release(old_slug)
    move_database(database_path(old_slug), database_path(new_slug))
    # Under its new name the file is a new database to Litestream: a fresh replica starts
    # there, and the old name's replica stays for restores.
    shutil.rmtree(replication_state_dir(old_slug), ignore_errors=True)


# Backups, exports and restores ------------------------------------------------------


def tenant_backup(*, tenant: Tenant, destination: Path, stored_files: bool = False) -> Path:
    """Write a consistent snapshot of a live tenant database to a new file.

    With ``stored_files`` the tenant's stored files (attachments) are copied beside it,
    into ``<destination>.files``, when it has any; ``tenant_restore`` brings them back.
    """
    copy_database(require_database_file(tenant.slug), destination)
    if stored_files:
        copy_stored_files(tenant.slug, files_beside(destination))
    return destination


def tenant_export_sql(*, tenant: Tenant, destination: Path, stored_files: bool = False) -> Path:
    """Write a SQL dump of a tenant that re-imports, full-text tables included.

    With ``stored_files``, its stored files go beside it as with ``tenant_backup``.
    """
    source = require_database_file(tenant.slug)
    if destination.exists():
        raise TenantDatabaseExists(f"{destination} already exists; it was left untouched.")
    temporary = scratch_path(destination)
    connection = connect(source)
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            for statement in iter_dump(connection):
                out.write(statement + "\n")
        temporary.rename(destination)
    finally:
        connection.close()
        temporary.unlink(missing_ok=True)
    if stored_files:
        copy_stored_files(tenant.slug, files_beside(destination))
    return destination


@dataclass(frozen=True)
class RestoreResult:
    tenant: Tenant
    created: bool
    replaced: Path | None  # the trash folder holding the files it replaced
    migrated: list[str]


def tenant_restore(*, slug: str, source: Path, name: str | None = None) -> RestoreResult:
    """Restore a tenant from a SQLite file or SQL dump, after checking it.

    The file must pass ``PRAGMA integrity_check`` and know no migration the code
    does not; pending migrations are applied to the staged copy. An existing tenant's
    file is copied to the trash (for undo) and then overwritten (``_replace_contents``);
    a slug not in the catalog becomes a new tenant. Stored files found beside the
    source (``<source>.files``, written by ``tenant_backup``) replace the tenant's own,
    which go to the trash.
    """
    validate_slug(slug)
    recover()
    staged = scratch_path(database_path(slug))
    try:
        _stage(source, staged)
        _check_restorable(staged)
        migrated = migrate_file(staged)
        tenant = Tenant.objects.filter(slug=slug).first()
        # Bookmarks given out before the restore must all be older than what it brings.
        start_new_epoch(staged, replacing=database_path(slug) if tenant else None)
        if tenant is None:
            new = _provision(slug=slug, name=name or slug, source=staged)
            _restore_stored_files(slug, source, None)
            return RestoreResult(tenant=new, created=True, replaced=None, migrated=migrated)
        replaced = _replace_contents(tenant, staged)
        _restore_stored_files(slug, source, replaced)
        return RestoreResult(tenant=tenant, created=False, replaced=replaced, migrated=migrated)
    finally:
        for path in (staged, *companions(staged)):
            path.unlink(missing_ok=True)


def _restore_stored_files(slug: str, source: Path, replaced: Path | None) -> None:
    """Bring back the stored files a backup has beside it; the current ones go to the trash."""
    files = files_beside(source)
    if files.is_dir():
        keep_in = (replaced or trash.trash_folder(slug, "replaced", timezone.now())) / "files"
        replace_stored_files(slug, files, keep_in)


def tenant_restore_from_replica(
    *,
    slug: str,
    target_slug: str | None = None,
    timestamp: datetime | None = None,
    txid: int | None = None,
    name: str | None = None,
) -> RestoreResult:
    """Restore a tenant from its Litestream replica, latest or at a point in time.

    Into ``target_slug`` (a new tenant, a branch) when given, else in place; either way
    through ``tenant_restore``, so the same checks and undo apply.
    """
    target = target_slug or slug
    validate_slug(target)
    fetched = scratch_path(database_path(target)).with_suffix(".replica")
    try:
        replica_restore(slug=slug, destination=fetched, timestamp=timestamp, txid=txid)
        return tenant_restore(slug=target, source=fetched, name=name)
    finally:
        for path in (fetched, *companions(fetched)):
            path.unlink(missing_ok=True)


def tenant_adopt(*, tenant: Tenant) -> RestoreResult:
    """Rebuild here, from its replica, a tenant whose home node was lost; home it here."""
    result = tenant_restore_from_replica(slug=tenant.slug)
    Tenant.objects.filter(pk=tenant.pk).update(home_node=settings.QUIRE_NODE_ID)
    return result


def tenant_move(*, tenant: Tenant, to_node: str) -> float:
    """Hand a tenant to another node; return how long its clients were told to retry.

    Run on the tenant's home node, with replication on: every node answers the tenant
    with a retryable 503 while its write lock is held (in-flight writes finish first),
    Litestream ships the last writes (``sync -wait``), the catalog names the new home,
    and the target fetches the database from the replica on its first request. The
    local copy goes to the trash; the lock is kept past the busy timeout, so a writer
    still waiting fails rather than commit into the moved file.
    """
    _check_move(tenant, to_node)
    path = require_database_file(tenant.slug)
    started = time.monotonic()
    _status_set(tenant=tenant, status=Status.MOVING)
    lock = connect(path)
    try:
        _hold_after_final_sync(lock, tenant.slug)
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            Tenant.objects.filter(pk=tenant.pk).update(home_node=to_node, status=Status.ACTIVE)
            # The new primary holds the data itself: its replica placement ends.
            ReplicaPlacement.objects.filter(tenant_id=tenant.pk, node=to_node).delete()
        paused = time.monotonic() - started
        trash.move_to_trash(tenant.slug, "moved", timezone.now(), fold_wal=False)
        time.sleep(settings.TENANT_DB_TIMEOUT + 0.5)
    except BaseException:
        Tenant.objects.filter(pk=tenant.pk, status=Status.MOVING).update(status=Status.ACTIVE)
        raise
    finally:
        lock.close()
    return paused


def _hold_after_final_sync(lock: sqlite3.Connection, slug: str, attempts: int = 5) -> None:
    """Sync to the replica until no write came after the sync; return holding the write lock.

    Litestream writes to the database while it syncs, so the lock cannot be held across
    the sync: take it (in-flight writes drain), note the data version, release, sync, take
    it again; an unchanged version proves the replica has every write.
    """
    lock.execute("BEGIN IMMEDIATE")
    version = lock.execute("PRAGMA data_version").fetchone()[0]
    lock.execute("ROLLBACK")
    for _attempt in range(attempts):
        sync_now(slug=slug)
        lock.execute("BEGIN IMMEDIATE")
        latest = lock.execute("PRAGMA data_version").fetchone()[0]
        if latest == version:
            return
        version = latest
        lock.execute("ROLLBACK")
    raise ReplicationFailed(f"Writes to '{slug}' kept arriving during {attempts} syncs; not moved.")


def _check_move(tenant: Tenant, to_node: str) -> None:
    here = settings.QUIRE_NODE_ID
    if not settings.QUIRE_REPLICATION:
        raise InvalidTenantState("Moving a tenant needs replication on (QUIRE_REPLICATION).")
    if tenant.status != Status.ACTIVE:
        raise InvalidTenantState(f"'{tenant.slug}' is {tenant.status}; only active ones move.")
    if tenant.home_node not in ("", here):
        raise InvalidTenantState(f"'{tenant.slug}' lives on {tenant.home_node}: run this there.")
    if to_node == here or to_node not in settings.QUIRE_NODES:
        known = ", ".join(sorted(set(settings.QUIRE_NODES) - {here})) or "none"
        raise InvalidTenantState(f"Cannot move to {to_node!r}; other nodes: {known} (QUIRE_NODES).")


def _stage(source: Path, staged: Path) -> None:
    """Copy a SQLite file, or load a SQL dump, into a staging file."""
    if not source.is_file():
        raise RestoreRefused(f"No such file: {source}")
    staged.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        is_sqlite = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    if is_sqlite:
        snapshot(source, staged, source_mode="ro")
        return
    try:
        script = source.read_text(encoding="utf-8")
        loader = sqlite3.connect(staged, isolation_level=None)
        try:
            loader.executescript(script)
            loader.execute("PRAGMA journal_mode=WAL")
        finally:
            loader.close()
    except (UnicodeDecodeError, sqlite3.Error) as exc:
        raise RestoreRefused(
            f"{source} is neither a SQLite database nor a SQL dump: {exc}"
        ) from exc


def _check_restorable(staged: Path) -> None:
    problems = integrity_errors(staged)
    if problems:
        raise RestoreRefused(f"The file fails PRAGMA integrity_check: {'; '.join(problems[:5])}")
    unknown = schema.unknown_nodes(staged)
    if unknown:
        names = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
        raise RestoreRefused(f"The file has migrations this code does not know: {names}")
    if not schema.applied_nodes(staged):
        raise RestoreRefused("The file is not a Quire tenant database (no migration ledger).")


def _replace_contents(tenant: Tenant, staged: Path) -> Path | None:
    """Put a staged database's contents into a tenant's file; keep a copy of the old.

    A sound file is overwritten in place with SQLite's backup API, as one write
    transaction: open connections stay valid, Litestream ships it like any write (so
    replicas and backups follow), and a kill leaves the file as it was. A missing or
    damaged file is swapped instead (``_swap``).
    """
    _require_database(tenant, "restored in place")
    if not tenant_health(tenant=tenant).ok:
        return _swap(tenant, staged)
    folder = trash.trash_folder(tenant.slug, "replaced", timezone.now())
    folder.mkdir(parents=True)
    live = database_path(tenant.slug)
    snapshot(live, folder / live.name)  # the undo copy, consistent while it serves
    _copy_into(staged, live)
    return folder


def _copy_into(source: Path, target: Path) -> None:
    """Overwrite a live database with another's contents, in one write transaction."""
    reader = connect(source, "ro")
    writer = connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def _swap(tenant: Tenant, staged: Path) -> Path | None:
    """Replace a tenant's files with a staged database; keep the old ones in the trash.

    Journaled: a kill before the new file is in place puts the old one back.
    """
    _require_database(tenant, "restored in place")
    status = Status.ACTIVE if tenant.status == Status.MAINTENANCE else tenant.status
    folder = trash.trash_folder(tenant.slug, "replaced", timezone.now())
    entry = journal.Entry(
        op="restore", tenant_id=tenant.pk, status=status, source=tenant.slug, trash=str(folder)
    )
    replaced: list[Path] = []

    def steps() -> None:
        _status_set(tenant=tenant, status=Status.MAINTENANCE)  # not served while files swap
        if database_path(tenant.slug).exists():
            replaced.append(trash.move_to_trash(tenant.slug, "replaced", timezone.now(), folder))
        clear_orphans(tenant.slug)
        place(staged, database_path(tenant.slug))

    with journal.recorded(entry):
        _run_then_finish(entry, steps)
    tenant.refresh_from_db()
    return replaced[0] if replaced else None
