"""Every real posts migration, then 9001_post_pinned (a column and an index)."""

from pathlib import Path

import apps.posts.migrations as real

__path__ = [*real.__path__, str(Path(__file__).parent)]
