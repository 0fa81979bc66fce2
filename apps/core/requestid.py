"""The current request's id, for log lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("quire_request_id", default="-")


def get_request_id() -> str:
    """Return the id of the request being handled, or '-' outside requests."""
    return _request_id.get()


@contextmanager
def request_id_context(request_id: str) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)
