"""What add_pinned has, then 9003_pause, which takes 0.2 s a tenant (for crash tests)."""

from pathlib import Path

from tests.fleet_migrations import add_pinned

__path__ = [*add_pinned.__path__, str(Path(__file__).parent)]
