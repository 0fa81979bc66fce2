"""What each endpoint does with a request body, on a stream; HTTP is the views' business.

The same functions serve a request that reached this process and one handed over by
another worker process (``apps.sqlapi.relay``) because this one holds its stream.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from apps.sqlapi.protocol import Budget, Limits, ProtocolError
from apps.sqlapi.streams import Stream, park, release, resume
from apps.tenancy import metering
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant
from apps.tenancy.nodes import bookmarks
from apps.tenancy.nodes.bookmarks import HEADER_NAME as BOOKMARK_HEADER
from apps.tenancy.nodes.bookmarks import Bookmark
from apps.tenancy.routing.context import tenant_context

JSON = "application/json"
logger = logging.getLogger(__name__)


@dataclass
class Caller:
    """Who sends a request: the workspace, and the token's id and access."""

    tenant: Tenant
    token_id: int
    read_only: bool


@dataclass
class Reply:
    """An answer, before it becomes an HTTP response."""

    status: int
    content: str
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(payload, separators=(",", ":")))

    @classmethod
    def error(cls, error: ProtocolError, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            error.status, json.dumps(error.as_json(), separators=(",", ":")), JSON, headers or {}
        )


class Refused(Exception):
    """The whole request is refused (status and protocol error)."""

    def __init__(self, error: ProtocolError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers or {}

    def reply(self) -> Reply:
        return Reply.error(self.error, self.headers)


Handler = Callable[[dict[str, Any], Caller, Budget], Reply]


def run(kind: str, body: dict[str, Any], caller: Caller) -> Reply:
    """Serve a request in its workspace's context, with a fresh budget; meter its rows.

    Both a request that reached this process (``views``) and one handed over by another
    (``relay``) come here. ``Elsewhere`` is left to the caller.
    """
    budget = Budget(Limits.from_settings())
    try:
        with tenant_context(caller.tenant):
            return handle(kind, body, caller, budget)
    finally:
        metering.count_rows(caller.tenant, read=budget.rows_read, written=budget.rows_written)


def handle(kind: str, body: dict[str, Any], caller: Caller, budget: Budget) -> Reply:
    """Run a request body through the endpoint ``kind``; a refusal becomes its reply.

    ``Elsewhere`` (the stream is held by another process) is left to the caller.
    """
    try:
        return HANDLERS[kind](body, caller, budget)
    except Refused as refused:
        return refused.reply()
    except ProtocolError as error:
        return Reply.error(error)


@contextmanager
def _stream(baton: Any, caller: Caller) -> Iterator[tuple[Stream, dict[str, Any]]]:
    """Hold a stream for one request; yield it and a dict for the baton to send back.

    Set ``state["closed"]`` to end the stream with this request.
    """
    if baton is not None and not isinstance(baton, str):
        raise Refused(ProtocolError("'baton' must be a string or null.", "INVALID_BATON"))
    try:
        stream = resume(baton, caller.tenant, token_id=caller.token_id, read_only=caller.read_only)
    except ProtocolError as error:
        raise Refused(error) from None
    except (sqlite3.Error, ApplicationError, OSError):
        logger.exception("The SQL API could not open %s's database", caller.tenant.slug)
        trouble = ProtocolError(
            "The workspace's database cannot be opened now; retry shortly.", "UNAVAILABLE", 503
        )
        raise Refused(trouble, {"Retry-After": "5"}) from None
    state: dict[str, Any] = {"closed": False, "baton": None}
    try:
        yield stream, state
    except BaseException:
        release(stream)
        raise
    if state["closed"]:
        release(stream)
        return
    try:
        state["baton"] = park(stream)
    except ProtocolError as error:
        raise Refused(error) from None


def _with_bookmark(reply: Reply, stream: Stream, before: Any, caller: Caller) -> Reply:
    """Hand back the write's bookmark, signed for this workspace as pages hand theirs."""
    committed = stream.session.committed
    if committed is not None and committed != before:
        mark = Bookmark(*committed)
        reply.headers[BOOKMARK_HEADER] = bookmarks.sign(mark, tenant_id=caller.tenant.pk)
    return reply


def _pipeline(body: dict[str, Any], caller: Caller, budget: Budget) -> Reply:
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise Refused(ProtocolError("The body needs a list of 'requests'."))
    with _stream(body.get("baton"), caller) as (stream, state):
        before = stream.session.committed
        results = []
        for item in requests:
            if state["closed"]:
                closed = ProtocolError("The stream was closed by an earlier request.", "CLOSED")
                results.append({"type": "error", "error": closed.as_json()})
                continue
            try:
                results.append({"type": "ok", "response": _request(stream, state, item, budget)})
            except ProtocolError as failed:
                results.append({"type": "error", "error": failed.as_json()})
    payload = {"baton": state["baton"], "base_url": None, "results": results}
    return _with_bookmark(Reply.json(payload), stream, before, caller)


def _request(stream: Stream, state: dict[str, Any], item: Any, budget: Budget) -> dict[str, Any]:
    """Run one pipeline request; return its response object."""
    if not isinstance(item, dict):
        raise ProtocolError("A request must be an object with a 'type'.")
    kind = item.get("type")
    session = stream.session
    if kind == "execute":
        return {"type": "execute", "result": session.execute(item.get("stmt"), budget)}
    if kind == "batch":
        return {"type": "batch", "result": session.batch(item.get("batch"), budget)}
    if kind == "sequence":
        session.sequence(item, budget)
        return {"type": "sequence"}
    if kind == "describe":
        return {"type": "describe", "result": session.describe(item, budget)}
    if kind == "store_sql":
        session.store_sql(item)
        return {"type": "store_sql"}
    if kind == "close_sql":
        session.close_sql(item)
        return {"type": "close_sql"}
    if kind == "get_autocommit":
        return {"type": "get_autocommit", "is_autocommit": session.autocommit}
    if kind == "close":
        state["closed"] = True
        return {"type": "close"}
    raise ProtocolError(f"Unknown request type {kind!r}.")


def _cursor(body: dict[str, Any], caller: Caller, budget: Budget) -> Reply:
    with _stream(body.get("baton"), caller) as (stream, _state):
        before = stream.session.committed
        try:
            entries = _cursor_entries(stream.session.batch(body.get("batch"), budget))
        except ProtocolError as error:
            entries = [{"type": "error", "error": error.as_json()}]
    lines = [{"baton": _state["baton"], "base_url": None}, *entries]
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return _with_bookmark(Reply(200, text, "application/x-ndjson"), stream, before, caller)


def _cursor_entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    steps = zip(result["step_results"], result["step_errors"], strict=True)
    for step, (outcome, error) in enumerate(steps):
        if error is not None:
            entries.append({"type": "step_error", "step": step, "error": error})
        if outcome is None:
            continue
        entries.append({"type": "step_begin", "step": step, "cols": outcome["cols"]})
        entries.extend({"type": "row", "row": row} for row in outcome["rows"])
        entries.append(
            {
                "type": "step_end",
                "affected_row_count": outcome["affected_row_count"],
                "last_insert_rowid": outcome["last_insert_rowid"],
            }
        )
    return entries


def _v1_execute(body: dict[str, Any], caller: Caller, budget: Budget) -> Reply:
    with _stream(None, caller) as (stream, state):
        state["closed"] = True
        before = stream.session.committed
        result = stream.session.execute(body.get("stmt"), budget)
    return _with_bookmark(Reply.json({"result": result}), stream, before, caller)


def _v1_batch(body: dict[str, Any], caller: Caller, budget: Budget) -> Reply:
    with _stream(None, caller) as (stream, state):
        state["closed"] = True
        before = stream.session.committed
        result = stream.session.batch(body.get("batch"), budget)
    return _with_bookmark(Reply.json({"result": result}), stream, before, caller)


HANDLERS: dict[str, Handler] = {
    "pipeline": _pipeline,
    "cursor": _cursor,
    "v1_execute": _v1_execute,
    "v1_batch": _v1_batch,
}
