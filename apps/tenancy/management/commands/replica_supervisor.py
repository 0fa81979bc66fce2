from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.tenancy.supervisor import Supervisor


class Command(BaseCommand):
    help = (
        "Keep this node's read replicas current: one Litestream follower (restore -f) per "
        "workspace placed here (replicate_tenant), started and stopped as placements change, "
        "replaced when it dies, its position reported to the catalog. Runs until SIGTERM or "
        "Ctrl-C, then stops every follower. Run one per node, beside gunicorn."
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
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        supervisor = Supervisor()
        self.stdout.write(f"Supervising the read replicas of {settings.QUIRE_NODE_ID}.")
        try:
            while not stopping.is_set():
                supervisor.step()
                stopping.wait(interval)
        finally:
            supervisor.stop_all()
        self.stdout.write("Stopped every follower.")
