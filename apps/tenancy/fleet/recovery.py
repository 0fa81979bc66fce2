"""Finish what a killed operation left behind: journals, scratch files, orphaned companions.

Every command that changes tenant files runs ``recover`` first, and a request to a
workspace in maintenance runs it for that workspace, so a kill -9 never leaves a state
that blocks a re-run:

- a rename is completed: the catalog names the new slug, every file moves under it;
- an in-place restore is completed if the new file is in place, else undone (the
  replaced files come back from the trash); either way the status is as before;
- a delete is completed: the files go to its trash folder (or away, for a hard delete);
- an undelete is completed: whatever is still in its trash folder comes back (database
  file, WAL, replication state, stored files); if the database file is found nowhere, the
  tenant stays deleted;
- scratch files of dead processes (copies, staged restores, journal drafts) are removed;
- a WAL or shared-memory file with no database beside it is moved to the trash as
  "orphaned", so it can never be replayed into a new database of that name.

An entry is only finished by the process that holds its lock (``journal.claimed``):
its own process while it runs, else one recovery at a time.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

from django.db import IntegrityError
from django.utils import timezone

from apps.tenancy.fleet import journal, trash
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import (
    abandoned_scratch_files,
    companions,
    data_dir,
    database_path,
    delete_database_files,
    move_leftovers,
    release,
    replication_state_dir,
)
from apps.tenancy.routing.storage import media_dir


def recover(*, tenant_id: int | None = None) -> list[str]:
    """Complete or undo abandoned operations (one tenant's, or all); return what was done."""
    done = []
    for pending in journal.pending_tenant_ids():
        if tenant_id is not None and pending != tenant_id:
            continue
        with journal.claimed(pending) as entry:
            if entry is not None:
                done.append(finish(entry))
    if tenant_id is None:
        done += sweep_scratch()
    return done


def finish(entry: journal.Entry) -> str:
    """Bring one journaled operation to its end and forget it; return what was done.

    The caller holds the entry's lock: the process that wrote it, or ``recover``.
    """
    if entry.op == "rename":
        outcome = _finish_rename(entry)
    elif entry.op == "restore":
        outcome = _finish_restore(entry)
    elif entry.op == "undelete":
        outcome = _finish_undelete(entry)
    else:
        outcome = _finish_delete(entry)
    Tenant.objects.filter(pk=entry.tenant_id, status=Tenant.Status.MAINTENANCE).update(
        status=entry.status
    )
    journal.remove(entry)
    return outcome


def _finish_rename(entry: journal.Entry) -> str:
    """Roll a rename forward; back only if another tenant took the new slug meanwhile."""
    release(entry.source)
    try:
        Tenant.objects.filter(pk=entry.tenant_id).update(slug=entry.target)
    except IntegrityError:
        move_leftovers(database_path(entry.target), database_path(entry.source))
        move_stored_files(entry.target, entry.source)
        return f"rename {entry.source} -> {entry.target} undone (the new slug was taken)"
    move_leftovers(database_path(entry.source), database_path(entry.target))
    move_stored_files(entry.source, entry.target)
    return f"rename {entry.source} -> {entry.target} completed"


def move_stored_files(source: str, target: str) -> None:
    """Move a tenant's stored files to another slug's folder, unless that one has files."""
    if media_dir(source).exists() and not media_dir(target).exists():
        media_dir(target).parent.mkdir(parents=True, exist_ok=True)
        media_dir(source).rename(media_dir(target))


def _finish_restore(entry: journal.Entry) -> str:
    """Keep a restored file that is in place; else put the replaced one back."""
    path = database_path(entry.source)
    if path.exists():
        return f"restore of {entry.source} completed"
    folder = Path(entry.trash)
    if (folder / path.name).exists():
        release(entry.source)
        move_leftovers(folder / path.name, path)
        return f"restore of {entry.source} undone (its previous file is back)"
    return f"restore of {entry.source} found no file to keep"


def _finish_delete(entry: journal.Entry) -> str:
    """Move what is left under a deleted tenant's slug to its trash (or away, if hard)."""
    deleted_at = datetime.fromtimestamp(entry.started, tz=UTC)
    tenant = Tenant.objects.filter(pk=entry.tenant_id)
    tenant.update(status=Tenant.Status.DELETED, deleted_at=deleted_at)
    if not entry.trash:
        delete_database_files(entry.source)
        shutil.rmtree(media_dir(entry.source), ignore_errors=True)
        tenant.delete()
        return f"delete of {entry.source} completed (for good)"
    trash.move_to_trash(entry.source, "deleted", deleted_at, Path(entry.trash), stored_files=True)
    return f"delete of {entry.source} completed (files in the trash)"


def _finish_undelete(entry: journal.Entry) -> str:
    """Move what is still in a deleted tenant's trash folder back under its slug."""
    folder = Path(entry.trash)
    live = database_path(entry.source)
    tenant = Tenant.objects.filter(pk=entry.tenant_id)
    if not live.exists() and not (folder / live.name).exists():
        tenant.update(status=Tenant.Status.DELETED)  # nothing to bring back: stays deleted
        return f"undelete of {entry.source} undone (no database file in {folder})"
    release(entry.source)
    for name in (live.name, *(path.name for path in companions(live))):
        trashed = folder / name
        if trashed.exists() and not (live.parent / name).exists():
            trashed.rename(live.parent / name)
    state = replication_state_dir(entry.source)
    if (folder / state.name).exists() and not state.exists():
        (folder / state.name).rename(state)
    files = folder / trash.STORED_FILES_DIR_NAME
    if files.exists() and not media_dir(entry.source).exists():
        media_dir(entry.source).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(files, media_dir(entry.source))
    tenant.update(deleted_at=None)
    with contextlib.suppress(OSError):
        folder.rmdir()  # empty now; anything unexpected left in it stays for the purge
    return f"undelete of {entry.source} completed"


def sweep_scratch() -> list[str]:
    """Remove scratch files of processes that are gone; return their names."""
    removed = []
    for folder in (data_dir(), journal.journal_dir()):
        if not folder.is_dir():
            continue
        for path in abandoned_scratch_files(folder):
            path.unlink(missing_ok=True)
            removed.append(f"removed {path.name}")
    return removed


def clear_orphans(slug: str) -> Path | None:
    """Move a WAL or -shm with no database file beside it to the trash; return the folder."""
    if database_path(slug).exists():
        return None
    if not any(path.exists() for path in companions(database_path(slug))):
        return None
    return trash.move_to_trash(slug, "orphaned", timezone.now())
