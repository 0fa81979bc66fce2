"""The floor under bench/sqlapi.py's Quire figures: gunicorn answering a fixed reply.

    gunicorn -c config/gunicorn.py bench.sqlapi_floor:application

with SQLAPI_FLOOR_REPLIES naming a JSON file ``{"point": ..., "rows20": ...}`` of real
Quire answers (bench/sqlapi.py records them). Each call gets its statement's answer (the
20 rows when it asks for them) with no tenant, token, SQL or JSON work: what
@libsql/client reaches against it is what any Python application behind this gunicorn
configuration could reach on this machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_replies = {
    op: reply.encode()
    for op, reply in json.loads(Path(os.environ["SQLAPI_FLOOR_REPLIES"]).read_text()).items()
}


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    reply = _replies["rows20"] if b"LIMIT 20" in body else _replies["point"]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))]
    start_response("200 OK", headers)
    return [reply]
