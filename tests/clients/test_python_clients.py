"""The PyPI libSQL clients, unmodified, against a real server: `libsql` (Rust core,
Hrana v3 pipeline), `libsql-client` (the v1 execute and batch forms over HTTP) and
`turso-serverless` (v3 cursor and pipeline, DB-API).

Writes are checked in the workspace's file itself, with Python's sqlite3.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import urllib.error
import urllib.request

import libsql
import libsql_client
import pytest
import turso_serverless

from tests.clients.conftest import DEMO_TITLES, SqlServer

BIG = 2**62 + 1  # far past 2**53: a float cannot hold it
BYTES = bytes([0, 1, 127, 128, 255])
TEXT = 'grüße, 日本語, emoji 🦆, quote "'
ROUND_TRIP = "SELECT ? AS i, ? AS b, ? AS t, ? AS n, ? AS f"
TYPES = "SELECT typeof(?), typeof(?), typeof(?), typeof(?), typeof(?)"
VALUES = (BIG, BYTES, TEXT, None, 3.25)
REFUSED = [
    "ATTACH DATABASE 'elsewhere.sqlite3' AS elsewhere",
    "CREATE TABLE mine (x)",
    "SELECT session_data FROM django_session",
    "PRAGMA writable_schema = ON",
    "UPDATE accounts_user SET role = 'admin'",
]
REFUSAL = r"Refused: .* over the SQL API"
_names = itertools.count()


def tag(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def tags_in_file(server: SqlServer, prefix: str) -> list[str]:
    """Tag names starting with prefix, read from the workspace's file, not over HTTP."""
    with sqlite3.connect(server.quire.data / "demo.sqlite3") as raw:
        rows = raw.execute(
            "SELECT name FROM posts_tag WHERE name LIKE ? ORDER BY name", (f"{prefix}%",)
        )
        return [name for (name,) in rows]


# ---- libsql ---------------------------------------------------------------------------


@pytest.fixture
def lib(sql_server: SqlServer):
    connection = libsql.connect(sql_server.url, auth_token=sql_server.token)
    yield connection
    connection.close()


def test_libsql_reads(lib) -> None:
    cursor = lib.execute("SELECT id, title FROM posts_post ORDER BY id")
    assert [column[0] for column in cursor.description] == ["id", "title"]
    assert [title for _, title in cursor.fetchall()] == DEMO_TITLES
    found = lib.execute("SELECT title FROM posts_post WHERE title = ?", ("Quarterly planning",))
    assert found.fetchall() == [("Quarterly planning",)]


def test_libsql_writes_a_batch_all_or_nothing(sql_server, lib) -> None:
    a, b, c = tag("libsql-batch-a"), tag("libsql-batch-b"), tag("libsql-batch-c")
    lib.executemany("INSERT INTO posts_tag (name) VALUES (?)", [(a,), (b,)])
    lib.commit()
    assert tags_in_file(sql_server, "libsql-batch") == [a, b]
    with pytest.raises(Exception, match="UNIQUE"):
        lib.executemany("INSERT INTO posts_tag (name) VALUES (?)", [(c,), (a,)])
    lib.rollback()
    assert tags_in_file(sql_server, "libsql-batch") == [a, b]


def test_libsql_transaction_commits_and_rolls_back(sql_server, lib) -> None:
    kept, dropped = tag("libsql-tx-kept"), tag("libsql-tx-dropped")
    lib.execute("INSERT INTO posts_tag (name) VALUES (?)", (kept,))  # opens a transaction
    assert lib.in_transaction
    seen = lib.execute("SELECT count(*) FROM posts_tag WHERE name = ?", (kept,)).fetchone()
    assert seen == (1,)
    assert tags_in_file(sql_server, kept) == []  # not committed yet
    lib.commit()
    assert tags_in_file(sql_server, kept) == [kept]

    lib.execute("INSERT INTO posts_tag (name) VALUES (?)", (dropped,))
    lib.rollback()
    assert not lib.in_transaction
    assert tags_in_file(sql_server, dropped) == []


def test_libsql_typed_round_trip(lib) -> None:
    # libsql 0.1.11 binds a Python int past 32 bits as a float, on a local file too: the
    # remote database answers exactly what the same client's local one does.
    local = libsql.connect(":memory:")
    for sql in (ROUND_TRIP, TYPES):
        assert lib.execute(sql, VALUES).fetchone() == local.execute(sql, VALUES).fetchone()
    small = (7, BYTES, TEXT, None, 3.25)
    assert lib.execute(ROUND_TRIP, small).fetchone() == small
    assert lib.execute(TYPES, small).fetchone() == ("integer", "blob", "text", "null", "real")
    exact = lib.execute("SELECT CAST(? AS INTEGER), 9223372036854775807, -9223372036854775808, "
                        "x'00ff', 0.1", (str(BIG),))  # fmt: skip
    assert exact.fetchone() == (BIG, 2**63 - 1, -(2**63), b"\x00\xff", 0.1)


def test_libsql_errors(sql_server) -> None:
    stranger = libsql.connect(sql_server.url, auth_token="not-a-token")
    with pytest.raises(Exception, match="401"):
        stranger.execute("SELECT 1").fetchall()
    lib = libsql.connect(sql_server.url, auth_token=sql_server.token)
    with pytest.raises(Exception, match="syntax error"):
        lib.execute("SELEC title FROM posts_post")
    for sql in REFUSED:
        with pytest.raises(Exception, match=REFUSAL):
            lib.execute(sql)
    assert lib.execute("SELECT count(*) FROM posts_post").fetchone() == (3,)  # goes on


def test_libsql_read_only_token(sql_server) -> None:
    reader = libsql.connect(sql_server.url, auth_token=sql_server.read_only_token)
    assert reader.execute("SELECT count(*) FROM posts_post").fetchone() == (3,)
    name = tag("libsql-ro")
    with pytest.raises(Exception, match=r"read-only|readonly"):
        reader.execute("INSERT INTO posts_tag (name) VALUES (?)", (name,))
        reader.commit()
    assert tags_in_file(sql_server, name) == []


# ---- libsql-client --------------------------------------------------------------------
# Its HTTP client has no interactive transactions (it asks for a ws:// URL, and Quire
# serves HTTP only): its batch, BEGIN ... COMMIT in one request, is its transaction.


def client_run(server: SqlServer, work, token: str | None = None):
    """Run `work(client)` with an async libsql-client for the server's URL."""

    async def main():
        async with libsql_client.create_client(
            server.url, auth_token=token or server.token
        ) as client:
            return await work(client)

    return asyncio.run(main())


def test_libsql_client_reads(sql_server) -> None:
    result = client_run(
        sql_server, lambda c: c.execute("SELECT id, title FROM posts_post ORDER BY id")
    )
    assert result.columns == ("id", "title")
    assert [row["title"] for row in result.rows] == DEMO_TITLES


def test_libsql_client_batch_is_all_or_nothing(sql_server) -> None:
    a, b, c = tag("client-batch-a"), tag("client-batch-b"), tag("client-batch-c")
    insert = "INSERT INTO posts_tag (name) VALUES (?)"
    results = client_run(sql_server, lambda client: client.batch([(insert, [a]), (insert, [b])]))
    assert [result.rows_affected for result in results] == [1, 1]
    assert tags_in_file(sql_server, "client-batch") == [a, b]
    with pytest.raises(libsql_client.LibsqlError, match="UNIQUE"):
        client_run(sql_server, lambda client: client.batch([(insert, [c]), (insert, [a])]))
    assert tags_in_file(sql_server, "client-batch") == [a, b]  # c rolled back with it


def test_libsql_client_typed_round_trip(sql_server) -> None:
    result = client_run(sql_server, lambda c: c.execute(ROUND_TRIP, list(VALUES)))
    assert tuple(result.rows[0]) == VALUES
    types = client_run(sql_server, lambda c: c.execute(TYPES, list(VALUES)))
    assert tuple(types.rows[0]) == ("integer", "blob", "text", "null", "real")


def test_libsql_client_errors(sql_server) -> None:
    with pytest.raises(libsql_client.LibsqlError) as refused:
        client_run(sql_server, lambda c: c.execute("SELECT 1"), token="not-a-token")
    assert "token" in str(refused.value).lower()
    with pytest.raises(libsql_client.LibsqlError, match="syntax error"):
        client_run(sql_server, lambda c: c.execute("SELEC title FROM posts_post"))
    for sql in REFUSED:
        with pytest.raises(libsql_client.LibsqlError, match=REFUSAL):
            client_run(sql_server, lambda c, sql=sql: c.execute(sql))


# ---- turso-serverless -----------------------------------------------------------------


@pytest.fixture
def turso(sql_server: SqlServer):
    connection = turso_serverless.connect(sql_server.url, auth_token=sql_server.token)
    yield connection
    connection.close()


def test_turso_serverless_reads(turso) -> None:
    cursor = turso.execute("SELECT id, title FROM posts_post ORDER BY id")
    assert [column[0] for column in cursor.description] == ["id", "title"]
    assert [title for _, title in cursor.fetchall()] == DEMO_TITLES


def test_turso_serverless_writes_a_batch_all_or_nothing(sql_server, turso) -> None:
    a, b, c = tag("turso-batch-a"), tag("turso-batch-b"), tag("turso-batch-c")
    turso.executemany("INSERT INTO posts_tag (name) VALUES (?)", [(a,), (b,)])
    turso.commit()
    assert tags_in_file(sql_server, "turso-batch") == [a, b]
    with pytest.raises(turso_serverless.IntegrityError, match="UNIQUE"):
        turso.executemany("INSERT INTO posts_tag (name) VALUES (?)", [(c,), (a,)])
    turso.rollback()
    assert tags_in_file(sql_server, "turso-batch") == [a, b]


def test_turso_serverless_transaction_commits_and_rolls_back(sql_server, turso) -> None:
    kept, dropped = tag("turso-tx-kept"), tag("turso-tx-dropped")
    with turso:  # commits on leaving
        turso.execute("INSERT INTO posts_tag (name) VALUES (?)", (kept,))
        assert turso.in_transaction
        assert tags_in_file(sql_server, kept) == []
    assert tags_in_file(sql_server, kept) == [kept]

    with pytest.raises(RuntimeError, match="changed my mind"), turso:  # rolls back
        turso.execute("INSERT INTO posts_tag (name) VALUES (?)", (dropped,))
        raise RuntimeError("changed my mind")
    assert not turso.in_transaction
    assert tags_in_file(sql_server, dropped) == []


def test_turso_serverless_typed_round_trip(turso) -> None:
    assert turso.execute(ROUND_TRIP, VALUES).fetchone() == VALUES
    assert turso.execute(TYPES, VALUES).fetchone() == ("integer", "blob", "text", "null", "real")


def test_turso_serverless_errors(sql_server, turso) -> None:
    stranger = turso_serverless.connect(sql_server.url, auth_token="not-a-token")
    with pytest.raises(turso_serverless.OperationalError, match="401"):
        stranger.execute("SELECT 1")
    with pytest.raises(turso_serverless.OperationalError, match="syntax error"):
        turso.execute("SELEC title FROM posts_post")
    for sql in REFUSED:
        with pytest.raises(turso_serverless.OperationalError, match=REFUSAL):
            turso.execute(sql)
    assert turso.execute("SELECT count(*) FROM posts_post").fetchone() == (3,)


# ---- the protocol's own answer to a bad token -----------------------------------------


@pytest.mark.parametrize("token", ["not-a-token", ""])
def test_a_bad_token_is_401_with_a_protocol_error(sql_server, token) -> None:
    pipeline = sql_server.url.rstrip("/") + "/v2/pipeline"
    body = {"requests": [{"type": "execute", "stmt": {"sql": "SELECT 1"}}]}
    request = urllib.request.Request(  # noqa: S310 (the test server's http URL)
        pipeline,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 (the test server)
    assert refused.value.code == 401
    assert refused.value.headers["Content-Type"] == "application/json"
    error = json.loads(refused.value.read())
    assert error["message"]
