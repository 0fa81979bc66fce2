"""The SQL endpoint over real HTTP (a live server with threads), by its path URL."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from apps.sqlapi.services import token_create
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.work import atomic
from tests.sqlapi.conftest import stmt, values


@pytest.fixture
def server(live_server, transactional_db, make_tenant):
    """Return (port, read-write token) for workspace 'acme' on a live server."""
    tenant = make_tenant("acme")
    return urlsplit(live_server.url).port, token_create(tenant=tenant, name="t", read_only=False)[1]


def post(port: int, token: str, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST",
            f"/db/acme/{path}",
            body=json.dumps(body),
            headers={
                "Host": f"quire.test:{port}",
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
            },
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def pipeline(port: int, token: str, *requests: dict, baton: str | None = None) -> dict:
    status, _headers, body = post(
        port, token, "v2/pipeline", {"baton": baton, "requests": list(requests)}
    )
    assert status == 200, body
    return json.loads(body)


def test_a_transaction_across_requests_holds_the_write_lock_until_commit(server, make_tenant):
    port, token = server
    begin = pipeline(
        port,
        token,
        {"type": "execute", "stmt": stmt("BEGIN IMMEDIATE")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('api')")},
    )
    app_wrote = threading.Event()

    def app_write() -> None:
        from apps.posts.models import Tag
        from apps.tenancy.fleet.selectors import tenant_get

        with tenant_context(tenant_get(slug="acme")), atomic():
            Tag.objects.create(name="app")
        app_wrote.set()

    writer = threading.Thread(target=app_write)
    writer.start()
    time.sleep(0.3)
    assert not app_wrote.is_set()  # the API's transaction holds the workspace's write lock
    done = pipeline(
        port,
        token,
        {"type": "execute", "stmt": stmt("COMMIT")},
        {"type": "close"},
        baton=begin["baton"],
    )
    assert done["baton"] is None
    writer.join(10)
    assert app_wrote.is_set()
    names = pipeline(
        port, token, {"type": "execute", "stmt": stmt("SELECT name FROM posts_tag ORDER BY name")}
    )
    assert values(names["results"][0]["response"]["result"]) == [["api"], ["app"]]


def test_an_abandoned_transaction_is_rolled_back_by_the_idle_timer(server, settings):
    port, token = server
    settings.SQLAPI_STREAM_IDLE_SECONDS = 0.4
    pipeline(
        port,
        token,
        {"type": "execute", "stmt": stmt("BEGIN IMMEDIATE")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('lost')")},
    )
    deadline = time.monotonic() + 10
    while True:  # no request comes: the reaper thread alone must free the lock
        result = pipeline(
            port,
            token,
            {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('next')")},
            {"type": "close"},
        )["results"][0]
        if result["type"] == "ok" or time.monotonic() > deadline:
            break
        assert result["error"]["code"] == "SQLITE_BUSY"
    assert result["type"] == "ok"
    names = pipeline(port, token, {"type": "execute", "stmt": stmt("SELECT name FROM posts_tag")})
    assert values(names["results"][0]["response"]["result"]) == [["next"]]


def test_a_slow_statement_does_not_hold_up_other_requests(server, settings):
    port, token = server
    settings.SQLAPI_STATEMENT_SECONDS = 1.5
    slow_result: dict = {}

    def slow() -> None:
        slow_result.update(
            pipeline(
                port,
                token,
                {
                    "type": "execute",
                    "stmt": stmt(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                        "SELECT count(*) FROM n WHERE i < 0"
                    ),
                },
            )["results"][0]
        )

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    quick = pipeline(port, token, {"type": "execute", "stmt": stmt("SELECT 1")})
    assert quick["results"][0]["type"] == "ok"
    assert thread.is_alive()  # answered while the slow one still runs
    thread.join(10)
    assert slow_result["error"]["code"] == "SQLITE_INTERRUPT"


def test_cursor_over_http_streams_ndjson(server):
    port, token = server
    status, headers, body = post(
        port,
        token,
        "v3/cursor",
        {"baton": None, "batch": {"steps": [{"stmt": stmt("SELECT 'a' UNION ALL SELECT 'b'")}]}},
    )
    assert status == 200
    assert headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [line.get("type") for line in lines] == [None, "step_begin", "row", "row", "step_end"]
