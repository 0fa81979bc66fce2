"""Transactions across requests with several gunicorn worker processes.

A stream inside a transaction lives in one worker process; a follow-up request that
reaches another worker is handed over to it (apps.sqlapi.relay). Sync workers take one
request at a time, so while one is busy with a slow statement the next request must go
to the other: some follow-ups are handed over, whichever way the kernel deals them.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import pytest

from tests.clients.conftest import healthy, serving_env
from tests.crash.conftest import Quire, free_port, wait_until
from tests.sqlapi.conftest import stmt

SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n WHERE i < 0"
)


@pytest.fixture
def two_workers(tmp_path):
    port = free_port()
    env = serving_env(port) | {
        "GUNICORN_WORKERS": "2",
        "GUNICORN_WORKER_CLASS": "sync",
        "QUIRE_SQLAPI_STATEMENT_SECONDS": "0.5",
    }
    quire = Quire(tmp_path, **env)
    try:
        quire.manage("migrate", "--no-input")
        quire.manage("demo_workspace")
        token = json.loads(quire.manage("db_token", "demo", "--json").stdout)["token"]
        quire.start("-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi")
        wait_until(lambda: healthy(port), what="gunicorn to answer")
        yield port, token, quire
    finally:
        quire.stop()


def post(port: int, token: str, body: Any) -> tuple[int, dict[str, str], dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            "/db/demo/v2/pipeline",
            body=json.dumps(body),
            headers={"Host": f"localhost:{port}", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def test_follow_up_requests_reach_the_worker_holding_the_transaction(two_workers):
    port, token, quire = two_workers
    handed_over, rounds = 0, 0
    while handed_over < 2 and rounds < 30:
        rounds += 1
        status, _headers, begun = post(
            port,
            token,
            {
                "requests": [
                    {"type": "execute", "stmt": stmt("BEGIN")},
                    {
                        "type": "execute",
                        "stmt": stmt("INSERT INTO posts_tag(name) VALUES (?)", f"relay-{rounds}"),
                    },
                ]
            },
        )
        assert status == 200 and begun["baton"]
        slow = threading.Thread(
            target=post, args=(port, token, {"requests": [{"type": "execute", "stmt": stmt(SLOW)}]})
        )
        slow.start()  # keeps one of the two sync workers busy for 0.5 s
        status, headers, done = post(
            port,
            token,
            {
                "baton": begun["baton"],
                "requests": [{"type": "execute", "stmt": stmt("COMMIT")}, {"type": "close"}],
            },
        )
        slow.join()
        assert status == 200, done
        assert [result["type"] for result in done["results"]] == ["ok", "ok"]
        handed_over += "X-Quire-Handed-To" in headers
    assert handed_over == 2
    committed = quire.tenant("demo", "SELECT count(*) FROM posts_tag WHERE name LIKE 'relay-%'")
    assert committed == [(rounds,)]
