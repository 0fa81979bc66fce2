"""Gunicorn's access log without secrets: config/gunicorn.py names this logger class."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from apps.core.redaction import redact


class RedactingLogger(Logger):  # type: ignore[misc]
    """Gunicorn's logger, with link tokens masked in every access log field."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict:
        """Return gunicorn's log fields, request line, path and Referer included, redacted."""
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(v) if isinstance(v, str) else v for key, v in atoms.items()}
