"""Bad input and limits: a protocol error each, never a 500, and nothing written."""

from __future__ import annotations

import json
import random

import pytest

from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.work import commit_position
from tests.sqlapi.conftest import stmt, values

SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n WHERE i < 0"
)


@pytest.fixture
def unchanged(api, acme):
    """Fail the test if anything was written to the workspace."""
    with tenant_context(acme):
        before = commit_position()
    yield
    with tenant_context(acme):
        assert commit_position() == before
    assert values(api.execute("SELECT count(*) FROM posts_tag")) == [[0]]


def assert_protocol_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["message"]
    if code:
        assert body["code"] == code
    return body


@pytest.mark.parametrize(
    "raw",
    [b"{", b"", b"null", b"[]", b'"text"', b"\xff\xfe\x00garbage", bytes(range(256))],
)
def test_bodies_that_are_not_a_json_object(api, unchanged, raw):
    assert_protocol_error(api.post("/v2/pipeline", None, raw=raw), 400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "body",
    [{}, {"requests": "SELECT 1"}, {"requests": {}}, {"baton": 5, "requests": []}],
)
def test_pipelines_without_a_list_of_requests_or_with_a_bad_baton(api, unchanged, body):
    assert_protocol_error(api.post("/v2/pipeline", body), 400)


@pytest.mark.parametrize(
    "request_",
    [
        "execute",
        {"type": "drop_everything"},
        {"type": "execute"},
        {"type": "execute", "stmt": {"sql": 5}},
        {
            "type": "execute",
            "stmt": {"sql": "SELECT ?", "args": [{"type": "bigint", "value": "1"}]},
        },
        {
            "type": "execute",
            "stmt": {"sql": "SELECT ?", "args": [{"type": "integer", "value": "1e3"}]},
        },
        {
            "type": "execute",
            "stmt": {"sql": "SELECT ?", "args": [{"type": "integer", "value": str(2**63)}]},
        },
        {
            "type": "execute",
            "stmt": {"sql": "SELECT ?", "args": [{"type": "float", "value": "1.5"}]},
        },
        {
            "type": "execute",
            "stmt": {"sql": "SELECT ?", "args": [{"type": "blob", "base64": "@@@"}]},
        },
        {"type": "execute", "stmt": {"sql": "SELECT ?", "args": [1]}},
        {"type": "execute", "stmt": {"sql": "SELECT ?", "args": "1"}},
        {"type": "execute", "stmt": {"sql": "SELECT ?, ?", "args": [{"type": "null"}]}},
        {"type": "execute", "stmt": {"sql": "SELECT 1", "sql_id": 1}},
        {
            "type": "batch",
            "batch": {
                "steps": [{"stmt": stmt("SELECT 1"), "condition": {"type": "ok", "step": 3}}]
            },
        },
        {
            "type": "batch",
            "batch": {"steps": [{"stmt": stmt("SELECT 1"), "condition": {"type": "maybe"}}]},
        },
        {"type": "batch", "batch": "SELECT 1"},
        {"type": "store_sql", "sql_id": "one", "sql": "SELECT 1"},
        {"type": "sequence", "sql": "SELECT 1; SELECT 'unterminated"},
    ],
)
def test_malformed_requests_get_an_error_result_and_the_pipeline_goes_on(api, unchanged, request_):
    body = api.run(request_, {"type": "execute", "stmt": stmt("SELECT 1")}, {"type": "close"})
    first, second = body["results"][0], body["results"][1]
    assert first["type"] == "error" and first["error"]["message"]
    assert second["type"] == "ok"


@pytest.mark.parametrize(
    "sql",
    [
        "SELEC 1",
        "INSERT INTO posts_tag(name) VALUES ('x'); DROP TABLE posts_post",
        "INSERT INTO posts_tag(name) VALUES ('x', 'y')",
        "INSERT INTO posts_tag(nope) VALUES ('x')",
    ],
)
def test_sql_errors_are_errors_and_write_nothing(api, unchanged, sql):
    result = api.execute(sql)
    assert result["code"] in ("SQLITE_ERROR", "INVALID_STATEMENT")


@pytest.mark.parametrize("baton", ["nonsense", "1.2.3", f"{2**40}.abc", "s", "."])
def test_wrong_batons(api, unchanged, baton):
    response = api.pipeline({"type": "get_autocommit"}, baton=baton)
    assert_protocol_error(response, 400)


def test_a_baton_is_not_another_tokens(api, acme, ro_token):
    first = api.run({"type": "execute", "stmt": stmt("BEGIN")})
    response = api.pipeline({"type": "get_autocommit"}, baton=first["baton"], token=ro_token)
    assert_protocol_error(response, 400, "STREAM_EXPIRED")


def test_a_slow_statement_is_interrupted_and_undone(api, unchanged, settings):
    settings.SQLAPI_STATEMENT_SECONDS = 0.2
    result = api.execute(SLOW)
    assert result["code"] == "SQLITE_INTERRUPT"
    assert "0.2 s" in result["message"]
    write = api.execute(
        "INSERT INTO posts_tag(name) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT 't' || i FROM n"
    )
    assert write["code"] == "SQLITE_INTERRUPT"


def test_rows_returned_are_limited(api, unchanged, settings):
    settings.SQLAPI_MAX_ROWS = 10
    many = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 11) SELECT i FROM n"
    )
    assert api.execute(many)["code"] == "ROWS_LIMIT"
    assert len(api.execute(many.replace("LIMIT 11", "LIMIT 10"))["rows"]) == 10


def test_bytes_returned_are_limited(api, unchanged, settings):
    settings.SQLAPI_MAX_RESPONSE_BYTES = 10_000
    assert api.execute("SELECT zeroblob(20000)")["code"] == "RESPONSE_TOO_LARGE"
    steps = [{"stmt": stmt("SELECT zeroblob(6000)")} for _ in range(2)]
    response = api.pipeline({"type": "batch", "batch": {"steps": steps}})
    assert response.json()["results"][0]["error"]["code"] == "RESPONSE_TOO_LARGE"


def test_statements_per_request_are_limited(api, unchanged, settings):
    settings.SQLAPI_MAX_STATEMENTS = 5
    steps = [{"stmt": stmt("SELECT 1")} for _ in range(6)]
    response = api.pipeline({"type": "batch", "batch": {"steps": steps}})
    assert response.json()["results"][0]["error"]["code"] == "TOO_MANY_STATEMENTS"


def test_the_body_size_is_limited(api, unchanged, settings):
    settings.SQLAPI_MAX_BODY_BYTES = 1000
    body = {"requests": [{"type": "execute", "stmt": stmt("SELECT ?", "x" * 2000)}]}
    assert_protocol_error(api.post("/v2/pipeline", body), 413, "BODY_TOO_LARGE")


def test_a_body_over_the_site_wide_limit_is_a_protocol_error(api, unchanged, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # QUIRE_MAX_REQUEST_KB, below the API's own
    body = {"requests": [{"type": "execute", "stmt": stmt("SELECT ?", "x" * 2000)}]}
    assert_protocol_error(api.post("/v2/pipeline", body), 413, "BODY_TOO_LARGE")


def test_open_streams_per_workspace_are_limited(api, acme, settings):
    settings.SQLAPI_MAX_STREAMS = 2
    begin = {"type": "execute", "stmt": stmt("BEGIN")}
    batons = [api.run(begin)["baton"] for _ in range(2)]
    third = api.pipeline(begin)
    assert_protocol_error(third, 429, "TOO_MANY_STREAMS")
    assert api.execute("SELECT 1")["rows"]  # a stream that keeps nothing still works
    for baton in batons:
        api.run({"type": "close"}, baton=baton)
    assert api.run(begin)["baton"]


def test_only_post_is_answered(api, client):
    from tests.conftest import host

    response = client.get("/v2/pipeline", HTTP_HOST=host("acme"))
    assert_protocol_error(response, 405, "METHOD_NOT_ALLOWED")


def test_random_bodies_never_get_a_500(api, unchanged):
    generator = random.Random(13)  # noqa: S311 (repeatable, not secret)
    pieces = [
        '{"requests": [',
        '{"type": "execute"',
        '"stmt": {"sql": "SELECT 1"}',
        "}",
        "]",
        ",",
        ":",
        '"baton": null',
        '{"type": "batch", "batch": {"steps": [',
        "null",
        "1e999",
    ]
    for _ in range(200):
        raw = "".join(generator.choice(pieces) for _ in range(generator.randint(1, 12)))
        response = api.post("/v2/pipeline", None, raw=raw.encode())
        assert response.status_code in (200, 400), (raw, response.content)
        json.loads(response.content)


def test_over_quota_the_api_answers_429_and_writes_nothing(api, ro_api, acme):
    from apps.tenancy import metering

    metering.plan_define(name="tiny", rows_written=0)
    metering.tenant_set_plan(tenant=acme, plan_name="tiny")
    try:
        response = api.pipeline(
            {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('x')")}
        )
        body = assert_protocol_error(response, 429, "QUOTA_EXCEEDED")
        assert "rows written" in body["message"]
        assert int(response["Retry-After"]) > 0
        assert ro_api.execute("SELECT count(*) FROM posts_tag")["rows"] == [
            [{"type": "integer", "value": "0"}]
        ]
        metering.plan_define(name="tiny", api_calls=0)
        response = ro_api.pipeline({"type": "execute", "stmt": stmt("SELECT 1")})
        assert "API calls" in assert_protocol_error(response, 429, "QUOTA_EXCEEDED")["message"]
    finally:
        metering.tenant_set_plan(tenant=acme, plan_name=None)


def test_a_write_stopped_by_a_limit_while_returning_rows_is_undone(api, unchanged, settings):
    settings.SQLAPI_MAX_ROWS = 3
    result = api.execute(
        "INSERT INTO posts_tag(name) SELECT 'n' || value FROM json_each('[1,2,3,4,5]') RETURNING id"
    )
    assert result["code"] == "ROWS_LIMIT"


def test_a_missing_database_file_is_503_without_details(api, acme, settings, caplog):
    (settings.TENANTS_DATA_DIR / "acme.sqlite3").rename(settings.TENANTS_DATA_DIR / "gone")
    response = api.pipeline({"type": "execute", "stmt": stmt("SELECT 1")})
    body = assert_protocol_error(response, 503, "UNAVAILABLE")
    assert response["Retry-After"]
    assert str(settings.TENANTS_DATA_DIR) not in body["message"]
    assert "could not open acme's database" in caplog.text


def test_a_pooled_connection_is_not_reused_once_the_storage_cap_changed(acme):
    from apps.sqlapi import streams

    first = streams.open_stream(acme, token_id=1, read_only=False)
    streams.close(first)  # back to the pool
    acme.max_db_bytes = 512 * 1024  # a plan with a smaller cap
    second = streams.open_stream(acme, token_id=1, read_only=False)
    try:
        assert second is not first
        raw = second.session.connection
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
        assert raw.execute("PRAGMA max_page_count").fetchone()[0] == 512 * 1024 // page_size
    finally:
        streams.close(second)
