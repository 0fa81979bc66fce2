"""Keep this node's read replicas current: one Litestream follower per placed workspace.

A follower is ``litestream restore -f``: it restores the workspace's replica into a
*generation* file (``.replicas/<slug>.<generation>.sqlite3``) and then applies every new
change as the primary ships it. Once the first restore is complete (Litestream writes
``<file>-txid``), the generation is published: ``.replicas/<slug>.sqlite3``, the path the
app reads, becomes a symlink to it (swapped atomically). A follower cannot resume after
a restart, so a follower that dies is replaced by a fresh generation, published when
ready; until then readers keep the previous one. Placements are read from the catalog
at every pass, so followers start and stop without a restart; each pass also reports
each replica's commit position to the catalog.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from apps.tenancy.bookmarks import Bookmark
from apps.tenancy.databases import companions, replica_path
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.replicas import replica_bookmark
from apps.tenancy.replication import litestream_binary, litestream_env, replica_url

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


@dataclass
class Supervisor:
    """This node's followers, brought in line with the catalog by ``step``."""

    followers: dict[str, Follower] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    reported: dict[str, tuple[Bookmark, float]] = field(default_factory=dict)

    def step(self) -> None:
        """Start, replace, publish and stop followers as the placements say; report."""
        wanted = placed_here()
        for slug in set(self.followers) - set(wanted):
            self.retire(slug)
        for slug in wanted:
            self.keep(slug)
        report_positions(wanted, self.reported)

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

    def failed(self, follower: Follower) -> None:
        """Note a dead follower; retry later, with a growing pause while it keeps dying."""
        slug = follower.slug
        code = follower.process.returncode
        count = self.failures[slug] = self.failures.get(slug, 0) + 1
        pause = min(MAX_BACKOFF_SECONDS, 2.0 ** (count - 1))
        self.not_before[slug] = time.monotonic() + pause
        logger.warning("Follower of %s exited (%s); a new one in %.0f s", slug, code, pause)
        del self.followers[slug]
        if not follower.published:
            remove_generation(follower.generation)

    def retire(self, slug: str) -> None:
        """Stop following a workspace no longer placed here, and remove its replica."""
        stop(self.followers.pop(slug).process)
        remove_replica(slug)
        logger.info("Stopped following %s", slug)

    def stop_all(self) -> None:
        """Stop every follower; the replica files stay for the next start."""
        for follower in self.followers.values():
            stop(follower.process)
        self.followers.clear()


def placed_here() -> list[str]:
    """Return the slugs of the workspaces with a replica placed on this node."""
    placements = ReplicaPlacement.objects.filter(
        node=settings.QUIRE_NODE_ID, tenant__status__in=FOLLOWED_STATUSES
    )
    return sorted(placements.values_list("tenant__slug", flat=True))


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
    """Point the workspace's replica path at a ready generation; drop older ones."""
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


def report_positions(
    slugs: list[str], last: dict[str, tuple[Bookmark, float]] | None = None
) -> None:
    """Write each replica's bookmark to the catalog, for list_tenants, in one transaction.

    With ``last`` (what was reported when), a replica that has not moved is reported
    again only every REPORT_EVERY_SECONDS: the catalog is shared by every node.
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
    if not changed:
        return
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        for slug, mark in changed:
            ReplicaPlacement.objects.filter(tenant__slug=slug, node=settings.QUIRE_NODE_ID).update(
                epoch=mark.epoch, position=mark.position, reported_at=timezone.now()
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


def remove_replica(slug: str) -> None:
    """Delete a workspace's replica from this node: the link and every generation."""
    replica_path(slug).unlink(missing_ok=True)
    for generation in generations(slug):
        remove_generation(generation)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a follower: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _die_with_parent() -> None:
    """In the child: be sent SIGTERM when the supervisor dies, even by kill -9."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
