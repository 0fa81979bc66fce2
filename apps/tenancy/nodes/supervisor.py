"""Keep this node's read replicas current: a Litestream follower per workspace being read.

A follower is ``litestream restore -f``: it restores the workspace's replica into a
*generation* file (``.replicas/<slug>.<generation>.sqlite3``) and then applies every new
change as the primary ships it. Once the first restore is complete (Litestream writes
``<file>-txid``), the generation is switched to a rollback journal (so that the app's idle
read connections hold no lock the follower waits for: see ``replicapool``) and published:
``.replicas/<slug>.sqlite3``, the path the app reads, becomes a symlink to it (swapped
atomically).

A follower costs a process, about 34 MB and a steady stream of object store requests, so
a node follows only the workspaces placed on it that are being read: read here (the
app touches ``<slug>.read``, see ``replicas.note_read``) or placed here within
QUIRE_REPLICA_IDLE_SECONDS, at most QUIRE_REPLICA_MAX_FOLLOWERS at once, the most
recently read first. Others are stopped and their files removed; a read wakes them
again (it is forwarded to the primary meanwhile). At every pass the supervisor touches
``<slug>.live`` for each follower that runs with its generation published: the app
serves a replica only while that heartbeat is fresh.

A follower cannot resume after a restart, so a follower that dies is replaced by a fresh
generation, published when ready. Placements are read from the catalog at every pass,
so followers start and stop without a restart; each pass also reports each followed
replica's commit position to the catalog, and a stopped one as not following.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes.bookmarks import Bookmark
from apps.tenancy.nodes.replicas import READ_SUFFIX, heartbeat, replica_bookmark
from apps.tenancy.nodes.replication import litestream_binary, litestream_env, replica_url
from apps.tenancy.routing.databases import companions, connect, replica_path

logger = logging.getLogger(__name__)
FOLLOWED_STATUSES = (
    Tenant.Status.ACTIVE,
    Tenant.Status.SUSPENDED,
    Tenant.Status.MAINTENANCE,
    Tenant.Status.MOVING,
)
MAX_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 5.0
PR_SET_PDEATHSIG = 1
REPORT_EVERY_SECONDS = 30.0


@dataclass
class Follower:
    """One running ``litestream restore -f`` and the generation file it writes."""

    slug: str
    generation: Path
    process: subprocess.Popen[bytes]
    published: bool = False

    @property
    def ready(self) -> bool:
        return Path(f"{self.generation}-txid").exists()

    @property
    def live(self) -> bool:
        return self.published and self.process.poll() is None


@dataclass
class Supervisor:
    """This node's followers, brought in line with the catalog and the reads by ``step``."""

    followers: dict[str, Follower] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    reported: dict[str, tuple[Bookmark, float]] = field(default_factory=dict)
    passes: int = 0

    def step(self) -> None:
        """Start, replace, publish and stop followers as placements and reads say; report."""
        self.beat()
        placed = placed_here()
        wanted = chosen(placed, last_reads(), time.time())
        resting = sorted(set(self.followers) - wanted)
        self.rest(resting)
        for slug in sorted(wanted):
            self.keep(slug)
        self.beat()
        sweep(followed=set(self.followers), placed=set(placed))
        stopped = {slug for slug in resting if slug in placed}
        if self.passes == 0:  # what a previous supervisor left reported as following
            stopped |= set(placed) - set(self.followers)
        self.passes += 1
        live = [slug for slug, follower in self.followers.items() if follower.published]
        report_positions(live, self.reported, stopped=sorted(stopped))

    def keep(self, slug: str) -> None:
        follower = self.followers.get(slug)
        if follower is not None and follower.process.poll() is not None:
            self.failed(follower)
            follower = None
        if follower is None:
            if time.monotonic() >= self.not_before.get(slug, 0.0):
                self.followers[slug] = start_follower(slug)
            return
        if follower.ready and not follower.published:
            publish(follower)
            self.failures.pop(slug, None)

    def beat(self) -> None:
        """Say that each published follower still runs: touch its heartbeat file."""
        for slug, follower in self.followers.items():
            if follower.live:
                heartbeat(slug).touch()

    def failed(self, follower: Follower) -> None:
        """Note a dead follower; retry later, with a growing pause while it keeps dying."""
        slug = follower.slug
        heartbeat(slug).unlink(missing_ok=True)  # its replica no longer moves: not served
        code = follower.process.returncode
        count = self.failures[slug] = self.failures.get(slug, 0) + 1
        pause = min(MAX_BACKOFF_SECONDS, 2.0 ** (count - 1))
        self.not_before[slug] = time.monotonic() + pause
        logger.warning("Follower of %s exited (%s); a new one in %.0f s", slug, code, pause)
        del self.followers[slug]
        if not follower.published:
            remove_generation(follower.generation)

    def rest(self, slugs: Iterable[str]) -> None:
        """Stop following workspaces no longer read (or placed) here; ``sweep`` removes files."""
        followers = [self.followers.pop(slug) for slug in slugs]
        for follower in followers:
            heartbeat(follower.slug).unlink(missing_ok=True)  # readers go to the primary
            self.reported.pop(follower.slug, None)
        stop_processes([follower.process for follower in followers])
        for follower in followers:
            logger.info("Stopped following %s", follower.slug)

    def stop_all(self) -> None:
        """Stop every follower; its replica is not served from any more."""
        self.rest(list(self.followers))


def placed_here() -> dict[str, float]:
    """Return the workspaces with a replica placed on this node, and when each was placed."""
    placements = ReplicaPlacement.objects.filter(
        node=settings.QUIRE_NODE_ID, tenant__status__in=FOLLOWED_STATUSES
    )
    rows = placements.values_list("tenant__slug", "placed_at")
    return {slug: placed_at.timestamp() for slug, placed_at in rows}


def last_reads() -> dict[str, float]:
    """Return when this node was last asked to read each workspace (its read markers)."""
    folder = replica_path("x").parent
    reads = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(READ_SUFFIX):
                    try:
                        reads[entry.name[: -len(READ_SUFFIX)]] = entry.stat().st_mtime
                    except FileNotFoundError:
                        continue
    except FileNotFoundError:
        pass
    return reads


def chosen(placed: dict[str, float], reads: dict[str, float], now: float) -> set[str]:
    """Return the workspaces to follow: read or placed lately, the most recent first."""
    recent = {slug: max(reads.get(slug, 0.0), placed_at) for slug, placed_at in placed.items()}
    idle = settings.QUIRE_REPLICA_IDLE_SECONDS
    ranked = sorted(
        (slug for slug, at in recent.items() if now - at <= idle),
        key=lambda slug: (-recent[slug], slug),
    )
    return set(ranked[: settings.QUIRE_REPLICA_MAX_FOLLOWERS])


def sweep(*, followed: set[str], placed: set[str]) -> None:
    """Remove the replica files of workspaces not followed; read markers of unplaced ones.

    Everything in ``.replicas`` belongs to one workspace: its name starts with the slug
    (slugs have no dots), or with a dot and the slug (a symlink being swapped).
    """
    folder = replica_path("x").parent
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return
    for name in names:
        slug = name.lstrip(".").split(".", 1)[0]
        if slug in followed or (name.endswith(READ_SUFFIX) and slug in placed):
            continue
        (folder / name).unlink(missing_ok=True)


def start_follower(slug: str) -> Follower:
    """Start following a workspace's replica into a new generation file."""
    folder = replica_path(slug).parent
    folder.mkdir(parents=True, exist_ok=True)
    generation = folder / f"{slug}.{time.time_ns()}.sqlite3"
    command = [
        litestream_binary(),
        "restore",
        "-f",
        "-follow-interval",
        settings.QUIRE_REPLICA_FOLLOW_INTERVAL,
        "-o",
        str(generation),
        replica_url(f"{slug}.sqlite3"),
    ]
    with open(f"{generation}.log", "ab") as log:
        process = subprocess.Popen(  # noqa: S603 (our own binary, arguments from settings)
            command,
            env=litestream_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    logger.info("Following %s into %s (pid %s)", slug, generation.name, process.pid)
    return Follower(slug, generation, process)


def publish(follower: Follower) -> None:
    """Point the workspace's replica path at a ready generation; drop older ones.

    The generation is first switched to a rollback journal (``rollback_journal``); one
    that cannot be switched yet is published at a later pass.
    """
    if not rollback_journal(follower.generation):
        return
    link = replica_path(follower.slug)
    draft = link.with_name(f".{link.name}.{os.getpid()}.link")
    draft.unlink(missing_ok=True)
    draft.symlink_to(follower.generation.name)
    os.replace(draft, link)
    follower.published = True
    for older in generations(follower.slug):
        if older != follower.generation:
            remove_generation(older)
    logger.info("Published %s for %s", follower.generation.name, follower.slug)


def rollback_journal(generation: Path) -> bool:
    """Switch a restored generation from WAL to a rollback journal; return True once done.

    Litestream restores the primary's header, which says WAL, and a connection to a WAL
    file holds a shared lock for as long as it is open, so the follower could apply
    nothing while the app keeps read connections open between requests. With a rollback
    journal, an idle connection holds no lock. The follower writes every page 1 it
    applies with a rollback journal header, so the switch lasts for the file's life.
    """
    try:
        connection = connect(generation)
        try:
            mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        logger.warning("Could not switch %s to a rollback journal yet: %s", generation.name, exc)
        return False
    return str(mode).lower() == "delete"


def report_positions(
    slugs: list[str],
    last: dict[str, tuple[Bookmark, float]] | None = None,
    *,
    stopped: Sequence[str] = (),
) -> None:
    """Write each replica's bookmark to the catalog, for list_tenants, in one transaction.

    With ``last`` (what was reported when), a replica that has not moved is reported
    again only every REPORT_EVERY_SECONDS: the catalog is shared by every node. The
    ``stopped`` ones are reported as not followed: no position, and when they stopped.
    """
    now = time.monotonic()
    changed = []
    for slug in slugs:
        mark = replica_bookmark(slug=slug)
        seen = last.get(slug) if last is not None else None
        if mark is None or (seen and seen[0] == mark and now - seen[1] < REPORT_EVERY_SECONDS):
            continue
        changed.append((slug, mark))
        if last is not None:
            last[slug] = (mark, now)
    if not changed and not stopped:
        return
    here = ReplicaPlacement.objects.filter(node=settings.QUIRE_NODE_ID)
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        for slug, mark in changed:
            here.filter(tenant__slug=slug).update(
                epoch=mark.epoch, position=mark.position, reported_at=timezone.now()
            )
        if stopped:
            here.filter(tenant__slug__in=stopped).update(
                epoch=None, position=None, reported_at=timezone.now()
            )


def generations(slug: str) -> list[Path]:
    """Return the generation files of a workspace's replica on this node."""
    folder = replica_path(slug).parent
    return sorted(path for path in folder.glob(f"{slug}.*.sqlite3") if not path.is_symlink())


def remove_generation(generation: Path) -> None:
    """Delete a generation file and what Litestream and SQLite keep beside it."""
    for path in (generation, *companions(generation)):
        path.unlink(missing_ok=True)
    for suffix in ("-txid", ".log"):
        Path(f"{generation}{suffix}").unlink(missing_ok=True)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop followers: SIGTERM to all, then SIGKILL to those that linger."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the supervisor dies, even by kill -9."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
