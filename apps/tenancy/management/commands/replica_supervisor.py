from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.nodes.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Keep this node's read replicas current: one Litestream follower (restore -f) per "
        "workspace placed here (replicate_tenant) and read here, or placed, within "
        "QUIRE_REPLICA_IDLE_SECONDS, at most QUIRE_REPLICA_MAX_FOLLOWERS at once (the most "
        "recently read); idle ones are stopped and a read wakes them. Followers are replaced "
        "when they die, their positions reported to the catalog, and a heartbeat tells the "
        "app which replicas it may serve. Runs until SIGTERM or Ctrl-C, then stops every "
        "follower. Run one per node, beside gunicorn."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between passes (default: QUIRE_REPLICA_SUPERVISE_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or settings.QUIRE_REPLICA_SUPERVISE_SECONDS
        if interval >= settings.QUIRE_REPLICA_HEARTBEAT_SECONDS:
            raise CommandError(
                f"A pass every {interval:g} s is too slow for QUIRE_REPLICA_HEARTBEAT_SECONDS "
                f"({settings.QUIRE_REPLICA_HEARTBEAT_SECONDS:g}): no replica would be served."
            )
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        supervisor = Supervisor()
        self.stdout.write(
            f"Supervising the read replicas of {settings.QUIRE_NODE_ID}: following those read "
            f"within {settings.QUIRE_REPLICA_IDLE_SECONDS:g} s, at most "
            f"{settings.QUIRE_REPLICA_MAX_FOLLOWERS} at once."
        )
        try:
            while not stopping.is_set():
                supervisor.step()
                stopping.wait(interval)
        finally:
            supervisor.stop_all()
        self.stdout.write("Stopped every follower.")
