"""The libSQL remote protocol (Hrana over HTTP) as clients speak it."""

from __future__ import annotations

import json

import pytest

from apps.sqlapi import streams
from apps.tenancy.nodes import bookmarks
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.work import commit_position
from tests.sqlapi.conftest import stmt, typed, values


def tag_names(api) -> list[str]:
    return [row[0] for row in values(api.execute("SELECT name FROM posts_tag ORDER BY name"))]


def test_typed_values_round_trip_exactly(api):
    big, small = 2**63 - 1, -(2**63)
    result = api.execute("SELECT ?, ?, ?, ?, ?, ?", big, small, "żółw ✓ 🐢", None, 0.1, b"\x00\xff")
    row = result["rows"][0]
    assert row[0] == {"type": "integer", "value": "9223372036854775807"}
    assert row[1] == {"type": "integer", "value": "-9223372036854775808"}
    assert row[2] == {"type": "text", "value": "żółw ✓ 🐢"}
    assert row[3] == {"type": "null"}
    assert row[4] == {"type": "float", "value": 0.1}
    assert row[5] == {"type": "blob", "base64": "AP8="}


def test_named_arguments_with_or_without_their_prefix(api):
    result = api.execute("SELECT :a, @b, $c", a=1, **{"@b": "two", "$c": 3.5})
    assert values(result) == [[1, "two", 3.5]]


def test_columns_rows_and_write_counts(api):
    inserted = api.execute("INSERT INTO posts_tag(name) VALUES (?), (?)", "alpha", "beta")
    assert inserted["affected_row_count"] == 2
    assert int(inserted["last_insert_rowid"]) > 0
    selected = api.execute("SELECT id, name AS label FROM posts_tag WHERE name = ?", "beta")
    assert [col["name"] for col in selected["cols"]] == ["id", "label"]
    assert selected["affected_row_count"] == 0
    assert values(selected)[0][1] == "beta"


def test_want_rows_false_runs_without_returning_rows(api):
    body = api.run(
        {"type": "execute", "stmt": {**stmt("SELECT 1 UNION SELECT 2"), "want_rows": False}}
    )
    assert body["results"][0]["response"]["result"]["rows"] == []


def test_batch_with_conditions_commits_or_rolls_back_as_libsql_client_sends_it(api):
    def batch(*inserts: str) -> dict:
        steps = [{"stmt": stmt("BEGIN DEFERRED")}]
        for index, name in enumerate(inserts, 1):
            steps.append(
                {
                    "stmt": stmt("INSERT INTO posts_tag(name) VALUES (?)", name),
                    "condition": {"type": "ok", "step": index - 1},
                }
            )
        last = len(steps) - 1
        steps.append({"stmt": stmt("COMMIT"), "condition": {"type": "ok", "step": last}})
        steps.append(
            {
                "stmt": stmt("ROLLBACK"),
                "condition": {"type": "not", "cond": {"type": "ok", "step": last + 1}},
            }
        )
        body = api.run({"type": "batch", "batch": {"steps": steps}}, {"type": "close"})
        return body["results"][0]["response"]["result"]

    ok = batch("one", "two")
    assert all(error is None for error in ok["step_errors"])
    assert ok["step_results"][-1] is None  # the ROLLBACK did not run
    failed = batch("three", "one")  # 'one' exists: UNIQUE fails, the batch rolls back
    assert failed["step_errors"][2]["code"] == "SQLITE_CONSTRAINT_UNIQUE"
    assert failed["step_results"][3] is None and failed["step_results"][4] is not None
    assert tag_names(api) == ["one", "two"]


def test_conditions_and_or_error_and_is_autocommit(api):
    steps = [
        {"stmt": stmt("SELECT nope")},  # 0 fails
        {"stmt": stmt("SELECT 1"), "condition": {"type": "error", "step": 0}},  # runs
        {
            "stmt": stmt("SELECT 2"),
            "condition": {
                "type": "and",
                "conds": [{"type": "ok", "step": 1}, {"type": "is_autocommit"}],
            },
        },  # runs
        {
            "stmt": stmt("SELECT 3"),
            "condition": {
                "type": "or",
                "conds": [
                    {"type": "ok", "step": 0},
                    {"type": "not", "cond": {"type": "is_autocommit"}},
                ],
            },
        },
    ]
    result = api.run({"type": "batch", "batch": {"steps": steps}})["results"][0]["response"][
        "result"
    ]
    assert [step is not None for step in result["step_results"]] == [False, True, True, False]
    assert result["step_errors"][0]["code"] == "SQLITE_ERROR"


def test_sequence_store_sql_describe_and_get_autocommit(api):
    body = api.run(
        {
            "type": "sequence",
            "sql": "INSERT INTO posts_tag(name) VALUES ('a;b'); "
            "INSERT INTO posts_tag(name) VALUES ('c');",
        },
        {"type": "store_sql", "sql_id": 7, "sql": "SELECT count(*) FROM posts_tag WHERE name > ?"},
        {"type": "execute", "stmt": {"sql_id": 7, "args": [typed("a")]}},
        {"type": "describe", "sql": "SELECT id, name FROM posts_tag WHERE id = :id"},
        {"type": "describe", "sql": "INSERT INTO posts_tag(name) VALUES (?)"},
        {"type": "close_sql", "sql_id": 7},
        {"type": "execute", "stmt": {"sql_id": 7}},
        {"type": "get_autocommit"},
        {"type": "close"},
    )
    results = body["results"]
    assert [r["type"] for r in results] == ["ok"] * 6 + ["error", "ok", "ok"]
    assert values(results[2]["response"]["result"]) == [[2]]
    described = results[3]["response"]["result"]
    assert described["params"] == [{"name": ":id"}]
    assert [col["name"] for col in described["cols"]] == ["id", "name"]
    assert described["is_readonly"] is True
    assert results[4]["response"]["result"]["is_readonly"] is False
    assert results[6]["error"]["code"] == "SQL_NOT_STORED"
    assert results[7]["response"]["is_autocommit"] is True
    assert body["baton"] is None


def test_interactive_transaction_across_requests_commits(api, acme):
    first = api.run(
        {"type": "execute", "stmt": stmt("BEGIN")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('tx')")},
    )
    assert first["baton"]
    assert tag_names(api) == []  # another stream does not see it yet
    second = api.run(
        {"type": "get_autocommit"},
        {"type": "execute", "stmt": stmt("COMMIT")},
        {"type": "close"},
        baton=first["baton"],
    )
    assert second["results"][0]["response"]["is_autocommit"] is False
    assert second["baton"] is None
    assert tag_names(api) == ["tx"]


def test_interactive_transaction_rolls_back_and_old_batons_serve_once(api):
    first = api.run(
        {"type": "execute", "stmt": stmt("BEGIN")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('x')")},
    )
    second = api.run({"type": "execute", "stmt": stmt("ROLLBACK")}, baton=first["baton"])
    reused = api.pipeline({"type": "get_autocommit"}, baton=first["baton"])
    assert reused.status_code == 400
    assert reused.json()["code"] == "STREAM_EXPIRED"
    api.run({"type": "close"}, baton=second["baton"])
    assert tag_names(api) == []


def test_an_idle_transaction_is_rolled_back_and_its_lock_released(api, acme, settings):
    settings.SQLAPI_STREAM_IDLE_SECONDS = 0.5
    first = api.run(
        {"type": "execute", "stmt": stmt("BEGIN IMMEDIATE")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('idle')")},
    )
    assert streams.held_count("acme") == 1
    import time

    assert streams.reap(now=time.monotonic() + 1) == 1
    later = api.pipeline({"type": "execute", "stmt": stmt("COMMIT")}, baton=first["baton"])
    assert later.json()["code"] == "STREAM_EXPIRED"
    assert "rolled back" in later.json()["message"]
    api.execute("INSERT INTO posts_tag(name) VALUES ('after')")  # the write lock is free
    assert tag_names(api) == ["after"]


def test_a_baton_of_a_process_that_is_gone_is_refused_clearly(api):
    response = api.pipeline({"type": "get_autocommit"}, baton="1.abc")
    assert response.status_code == 400
    assert response.json()["code"] == "STREAM_EXPIRED"
    assert "process that held it is gone" in response.json()["message"]


def test_read_transaction_as_libsql_client_begins_it(api):
    body = api.run(
        {"type": "execute", "stmt": stmt("BEGIN TRANSACTION READONLY")},
        {"type": "execute", "stmt": stmt("SELECT count(*) FROM posts_post")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('no')")},
        {"type": "execute", "stmt": stmt("COMMIT")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('yes')")},
        {"type": "close"},
    )
    kinds = [result["type"] for result in body["results"]]
    assert kinds == ["ok", "ok", "error", "ok", "ok", "ok"]
    assert "read-only transaction" in body["results"][2]["error"]["message"]
    assert tag_names(api) == ["yes"]


def test_writes_advance_the_commit_position_and_hand_back_a_bookmark(api, acme):
    with tenant_context(acme):
        before = commit_position()
    response = api.pipeline(
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('a')")},
        {"type": "close"},
    )
    mark = bookmarks.verified(response["X-Quire-Bookmark"], tenant_id=acme.pk)
    assert mark is not None and mark.position == before + 1  # signed as the pages sign theirs
    api.run(
        {"type": "execute", "stmt": stmt("BEGIN")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('b')")},
        {"type": "execute", "stmt": stmt("INSERT INTO posts_tag(name) VALUES ('c')")},
        {"type": "execute", "stmt": stmt("ROLLBACK")},
        {"type": "close"},
    )
    read = api.pipeline({"type": "execute", "stmt": stmt("SELECT 1")}, {"type": "close"})
    assert "X-Quire-Bookmark" not in read
    with tenant_context(acme):
        assert commit_position() == before + 1  # one write transaction; none for the rollback


def test_v3_cursor_answers_ndjson_entries(api):
    body = {
        "baton": None,
        "batch": {
            "steps": [
                {"stmt": stmt("SELECT 1 AS a UNION ALL SELECT 2")},
                {"stmt": stmt("SELECT nope")},
                {"stmt": stmt("SELECT 3"), "condition": {"type": "ok", "step": 1}},
            ]
        },
    }
    response = api.post("/v3/cursor", body)
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert lines[0]["baton"] is not None and "base_url" in lines[0]
    assert [line["type"] for line in lines[1:]] == [
        "step_begin",
        "row",
        "row",
        "step_end",
        "step_error",
    ]
    assert lines[1]["cols"] == [{"name": "a", "decltype": None}]
    assert lines[2]["row"] == [{"type": "integer", "value": "1"}]


def test_v3_pipeline_and_v1_execute_and_batch(api):
    v3 = api.post("/v3/pipeline", {"requests": [{"type": "execute", "stmt": stmt("SELECT 1")}]})
    assert v3.json()["results"][0]["type"] == "ok"
    v1 = api.post("/v1/execute", {"stmt": stmt("SELECT ?", 5)})
    assert values(v1.json()["result"]) == [[5]]
    batch = api.post("/v1/batch", {"batch": {"steps": [{"stmt": stmt("SELECT 2")}]}})
    assert values(batch.json()["result"]["step_results"][0]) == [[2]]


@pytest.mark.parametrize("path", ["/v2", "/v3", "/version", "/health"])
def test_discovery_endpoints_answer_get(client, acme, path):
    from tests.conftest import host

    assert client.get(path, HTTP_HOST=host("acme")).status_code == 200
    assert client.get(f"/db/acme{path}", HTTP_HOST="quire.test").status_code == 200


def test_the_path_form_on_the_base_domain(api, rw_token, client):
    response = client.post(
        "/db/acme/v2/pipeline",
        data=json.dumps({"requests": [{"type": "execute", "stmt": stmt("SELECT 41 + 1")}]}),
        content_type="application/json",
        HTTP_HOST="quire.test",
        HTTP_AUTHORIZATION=f"Bearer {rw_token}",
    )
    assert response.status_code == 200
    assert values(response.json()["results"][0]["response"]["result"]) == [[42]]


def test_the_path_form_naming_another_workspace_on_a_workspace_host_is_404(api):
    response = api.post("/db/other/v2/pipeline", {"requests": []})
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_api_calls_skip_the_pages_middleware_but_not_https(api, client, rw_token, settings):
    response = api.pipeline({"type": "execute", "stmt": stmt("SELECT 1")})
    assert "Set-Cookie" not in response and "Content-Security-Policy" not in response
    outside = client.post(
        "/v2/pipeline", data="{}", content_type="application/json", HTTP_HOST="evil.example"
    )
    assert outside.status_code == 400
    settings.SECURE_SSL_REDIRECT = True
    from django.test import Client

    redirected = Client().post(
        "/db/acme/v2/pipeline", data="{}", content_type="application/json", HTTP_HOST="quire.test"
    )
    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://quire.test/db/acme/")


def test_explain_and_query_plans_are_answered(api):
    plan = api.execute("EXPLAIN QUERY PLAN SELECT * FROM posts_tag WHERE name = 'x'")
    assert plan["rows"] and "detail" in [col["name"] for col in plan["cols"]]
    assert api.execute("EXPLAIN SELECT 1")["rows"]


def test_a_stream_on_a_file_replaced_meanwhile_ends(api, acme, settings):
    import shutil

    from apps.tenancy.routing.sqlaccess import file_inode

    begun = api.run({"type": "execute", "stmt": stmt("BEGIN")})
    path = settings.TENANTS_DATA_DIR / "acme.sqlite3"
    before = file_inode(acme)
    shutil.copy(path, path.with_suffix(".copy"))
    path.with_suffix(".copy").replace(path)  # what a restore's swap does to the path
    assert file_inode(acme) != before
    response = api.pipeline({"type": "get_autocommit"}, baton=begun["baton"])
    assert response.status_code == 400
    assert response.json()["code"] == "STREAM_EXPIRED"
    assert "replaced" in response.json()["message"]
