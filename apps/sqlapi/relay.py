"""Hand a request over to the worker process that holds its stream.

gunicorn spreads requests over its worker processes, but a stream inside a transaction
lives in one of them, with its connection. Each process that holds a stream listens on
a Unix socket of its own (``TENANTS_DATA_DIR/.sqlapi/<pid>.sock``, readable by the
server's user only); a process that receives a baton naming another process sends it
the request (already authenticated: the workspace, the token's id and access, the body)
and relays its answer. One request, one connection: a length-prefixed JSON message each
way. A process that is gone leaves its socket unanswered: the stream went with it (and
SQLite rolled its transaction back).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.sqlapi.handlers import Caller, Reply, run
from apps.sqlapi.protocol import Limits
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import process_alive

logger = logging.getLogger(__name__)
HEADER = struct.Struct(">I")
MAX_MESSAGE = 64 * 1024 * 1024
_listener: dict[str, Any] = {"pid": None}
_lock = threading.Lock()


def socket_path(owner: str) -> Path:
    """Return where the process ``owner`` (a pid) listens for handed-over requests."""
    return Path(settings.TENANTS_DATA_DIR) / ".sqlapi" / f"{owner}.sock"


def forward(owner: str, kind: str, body: dict[str, Any], caller: Caller) -> Reply | None:
    """Send a request to the process holding its stream; None if that process is gone."""
    message = {
        "kind": kind,
        "body": body,
        "tenant": {
            "id": caller.tenant.pk,
            "slug": caller.tenant.slug,
            "max_db_bytes": caller.tenant.max_db_bytes,
        },
        "token_id": caller.token_id,
        "read_only": caller.read_only,
    }
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(_timeout())
            connection.connect(str(socket_path(owner)))
            _send(connection, message)
            answer = _receive(connection)
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    return Reply(answer["status"], answer["content"], answer["content_type"], answer["headers"])


def listen() -> None:
    """Start answering handed-over requests in this process (once per process)."""
    with _lock:
        if _listener["pid"] == os.getpid():
            return
        path = socket_path(str(os.getpid()))
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_sockets(path.parent)
        path.unlink(missing_ok=True)  # a process that had this pid before us is gone
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # the socket is the server user's alone
        try:
            server.bind(str(path))
        finally:
            os.umask(old_mask)
        server.listen(16)
        _listener["pid"] = os.getpid()
    threading.Thread(target=_accept, args=(server,), name="sqlapi-relay", daemon=True).start()


def _remove_dead_sockets(folder: Path) -> None:
    """Remove the sockets of worker processes that are gone (restarted workers)."""
    for path in folder.glob("*.sock"):
        if path.stem.isdigit() and not process_alive(int(path.stem)):
            path.unlink(missing_ok=True)


def _accept(server: socket.socket) -> None:
    while True:
        connection, _address = server.accept()
        threading.Thread(target=_answer, args=(connection,), daemon=True).start()


def _answer(connection: socket.socket) -> None:
    with connection:
        try:
            connection.settimeout(_timeout())
            reply = _run(_receive(connection))
            _send(
                connection,
                {
                    "status": reply.status,
                    "content": reply.content,
                    "content_type": reply.content_type,
                    "headers": reply.headers,
                },
            )
        except (OSError, ValueError, KeyError):
            logger.exception("A request handed over by another worker could not be answered")


def _run(message: dict[str, Any]) -> Reply:
    """Run a handed-over request here, where its stream is."""
    known = message["tenant"]
    tenant = Tenant(id=known["id"], slug=known["slug"], max_db_bytes=known["max_db_bytes"])
    caller = Caller(tenant, message["token_id"], message["read_only"])
    return run(message["kind"], message["body"], caller)


def _timeout() -> float:
    limit = Limits.from_settings()
    return limit.statement_seconds * limit.max_statements + 30


def _send(connection: socket.socket, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    connection.sendall(HEADER.pack(len(data)) + data)


def _receive(connection: socket.socket) -> dict[str, Any]:
    (size,) = HEADER.unpack(_exactly(connection, HEADER.size))
    if size > MAX_MESSAGE:
        raise ValueError(f"A relayed message of {size} bytes is too large.")
    return dict(json.loads(_exactly(connection, size)))


def _exactly(connection: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionResetError("The other worker closed the connection.")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
