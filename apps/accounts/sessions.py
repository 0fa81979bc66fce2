"""Sessions in the workspace's database, read once until the workspace next changes.

Django's database store reads the session row on every request. This store keeps what
it read in the workspace memo (``apps.tenancy.memo``), which any committed write in the
workspace empties: a sign-out (the row deleted), a deactivation (its sessions deleted),
a sign-in elsewhere, anything. The expiry date is still checked on every request.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

from apps.tenancy.memo import workspace_memo


class SessionStore(DatabaseSessionStore):
    """Django's database session store with the row kept in the workspace memo."""

    def load(self) -> dict[str, Any]:
        memo = workspace_memo() if self.session_key else None
        if memo is None:
            return super().load()
        key = ("session", self.session_key)
        kept: tuple[datetime, dict[str, Any]] | None = memo.get(key)
        if kept is not None and kept[0] > timezone.now():
            return copy.deepcopy(kept[1])
        row = self._get_session_from_db()  # type: ignore[attr-defined]
        if row is None:
            return {}
        data = self.decode(row.session_data)
        memo[key] = (row.expire_date, copy.deepcopy(data))
        return data
