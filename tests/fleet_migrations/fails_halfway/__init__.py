"""What add_pinned has, then 9002_fail_if_marked, which fails in marked tenants."""

from pathlib import Path

from tests.fleet_migrations import add_pinned

__path__ = [*add_pinned.__path__, str(Path(__file__).parent)]
