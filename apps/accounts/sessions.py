"""Sessions in the workspace's database, read once until the workspace next changes.

Django's database store reads the session row on every request. This store keeps what
it read in the workspace memo (``apps.tenancy.routing.memo``), which any committed write in the
workspace empties: a sign-out (the row deleted), a deactivation (its sessions deleted),
a sign-in elsewhere, anything. The expiry date is still checked on every request.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.tenancy.routing import work
from apps.tenancy.routing.context import get_current_tenant
from apps.tenancy.routing.memo import workspace_memo


class SessionStore(DatabaseSessionStore):
    """Django's database session store with the row kept in the workspace memo."""

    def load(self) -> dict[str, Any]:
        if get_current_tenant() is None:  # the main site keeps no sessions: a stray cookie
            self._session_key = None
            return {}
        memo = workspace_memo() if self.session_key else None
        if memo is None:
            return super().load()
        key = ("session", self.session_key)
        kept: tuple[datetime, dict[str, Any]] | None = memo.get(key)
        if kept is not None and kept[0] > timezone.now():
            return copy.deepcopy(kept[1])
        found = self._read_row()
        if found is None:
            self._session_key = None
            return {}
        data = self.decode(found[0])
        memo[key] = (found[1], copy.deepcopy(data))
        return data

    def _read_row(self) -> tuple[str, datetime] | None:
        """Return (data, expiry) of the unexpired session, by one fixed statement."""
        connection = work.current_connection()
        with work.cursor() as cursor:
            cursor.execute(
                "SELECT session_data, expire_date FROM django_session "
                "WHERE session_key = %s AND expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        expiry = parse_datetime(row[1]) if isinstance(row[1], str) else row[1]
        if expiry is None:
            return None
        return row[0], expiry if timezone.is_aware(expiry) else expiry.replace(tzinfo=UTC)
