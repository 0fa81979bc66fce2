"""What a token can reach: one test per rule of apps/sqlapi/surface.py."""

from __future__ import annotations

import pytest

from apps.accounts.models import User
from apps.posts.models import Post
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host
from tests.sqlapi.conftest import stmt, values


def refused(result: dict) -> str:
    """Return the error code of a refused statement (failing if it ran)."""
    assert "code" in result, f"the statement ran: {result}"
    return result["code"]


def test_a_read_only_token_cannot_write_anything(ro_api, acme):
    for sql in (
        "INSERT INTO posts_tag(name) VALUES ('x')",
        "UPDATE posts_post SET title = 'x'",
        "DELETE FROM posts_post",
        "PRAGMA query_only = OFF",
    ):
        assert refused(ro_api.execute(sql)) in ("SQLITE_AUTH", "SQLITE_READONLY")
    assert "read-only" in ro_api.execute("DELETE FROM posts_post")["message"]
    assert values(ro_api.execute("SELECT count(*) FROM accounts_user")) == [[1]]


def test_a_read_only_token_is_refused_by_sqlite_itself_not_only_the_authorizer(acme):
    """The read-only connection is opened mode=ro with query_only: without any authorizer."""
    import sqlite3

    from apps.tenancy.routing.sqlaccess import sql_connection

    connection = sql_connection(acme, read_only=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only"):
            connection.execute("INSERT INTO posts_tag(name) VALUES ('x')")
    finally:
        connection.close()


def test_password_hashes_read_as_null_and_give_no_oracle(api):
    rows = values(api.execute("SELECT email, password, last_login FROM accounts_user"))
    assert rows == [[admin_email("acme"), None, None]]
    star = api.execute("SELECT * FROM accounts_user")
    assert [col["name"] for col in star["cols"]][:2] == ["id", "password"]
    assert values(star)[0][1] is None
    oracle = api.execute("SELECT count(*) FROM accounts_user WHERE password LIKE '%$%'")
    assert values(oracle) == [[0]]


@pytest.mark.parametrize(
    "table",
    [
        "django_session",
        "accounts_invitation",
        "sqlapi_databasetoken",
        "auth_permission",
        "django_admin_log",
        "accounts_user_groups",
        "django_migrations",
    ],
)
def test_tables_that_sign_people_in_or_run_the_app_cannot_be_read(api, table):
    result = api.execute(f"SELECT count(*) FROM {table}")
    if "no such table" in result.get("message", ""):
        return  # the catalog's tables are not in the workspace's file at all
    assert refused(result) == "SQLITE_AUTH"
    assert table in result["message"]


def test_members_roles_and_sign_in_cannot_be_written(api, acme):
    for sql in (
        "UPDATE accounts_user SET role = 'admin'",
        "UPDATE accounts_user SET password = 'x'",
        "INSERT INTO accounts_user(password, is_superuser, first_name, last_name, is_staff, "
        "is_active, date_joined, email, role) "
        "VALUES ('', 1, '', '', 1, 1, '2020-01-01', 'e@x', 'admin')",
        "DELETE FROM accounts_user",
        "INSERT INTO django_session VALUES ('k', 'd', '2099-01-01')",
        "UPDATE accounts_invitation SET role = 'admin'",
    ):
        assert refused(api.execute(sql)) == "SQLITE_AUTH", sql
    with tenant_context(acme):
        assert User.objects.get().role == User.Role.ADMIN


def test_rendered_html_is_always_the_apps_own_rendering(api, acme):
    with tenant_context(acme):
        author = User.objects.get().pk
    api.execute(
        "INSERT INTO posts_post(title, body, body_html, excerpt, author_id, created_at) "
        "VALUES ('t', ?, '<script>alert(1)</script>', 'x', ?, '2026-01-01 00:00:00')",
        "Hello <script>alert(1)</script> **bold**",
        author,
    )
    with tenant_context(acme):
        post = Post.objects.get(title="t")
    assert "<script>" not in post.body_html
    assert "<strong>bold</strong>" in post.body_html
    assert post.excerpt.startswith("Hello")
    assert (
        refused(api.execute("UPDATE posts_post SET body_html = '<img onerror=x>'")) == "SQLITE_AUTH"
    )
    api.execute("UPDATE posts_post SET body = '*new*' WHERE id = ?", post.pk)
    with tenant_context(acme):
        post.refresh_from_db()
    assert post.body_html.strip() == "<p><em>new</em></p>"
    found = api.execute("SELECT rowid FROM posts_post_fts WHERE posts_post_fts MATCH 'new'")
    assert values(found) == [[post.pk]]  # the app's search index followed
    assert values(
        api.execute("SELECT count(*) FROM posts_post_fts WHERE posts_post_fts MATCH 'hello'")
    ) == [[0]]
    with tenant_context(acme):
        from apps.tenancy.routing.work import cursor

        with cursor() as check:  # raises if the index does not match the table
            check.execute(
                "INSERT INTO posts_post_fts(posts_post_fts, rank) VALUES ('integrity-check', 1)"
            )


def test_upsert_cannot_write_rendered_html(api, acme):
    result = api.execute(
        "INSERT INTO posts_comment(id, body, body_html, created_at, author_id, post_id) "
        "SELECT 1, 'x', 'y', '2026-01-01', author_id, id FROM posts_post LIMIT 1 "
        "ON CONFLICT(id) DO UPDATE SET body_html = '<b>'"
    )
    assert refused(result) == "SQLITE_AUTH"


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH DATABASE '{tmp}/attached.sqlite3' AS other",
        "VACUUM INTO '{tmp}/copy.sqlite3'",
        "VACUUM",
        "SELECT load_extension('/tmp/evil')",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA foreign_keys = OFF",
        "PRAGMA max_page_count = 1000000000",
        "SELECT quire_render_markdown('x')",
    ],
)
def test_nothing_leaves_the_file_or_changes_how_it_is_kept(api, sql, tmp_path):
    assert refused(api.execute(sql.format(tmp=tmp_path))) == "SQLITE_AUTH"
    assert list(tmp_path.glob("*.sqlite3")) == []


def test_json_table_functions_work(api):
    assert values(api.execute("SELECT value FROM json_each('[1, 2]')")) == [[1], [2]]


def test_allowed_pragmas_describe_the_surface(api):
    columns = values(api.execute("PRAGMA table_info(posts_tag)"))
    assert [row[1] for row in columns] == ["id", "name"]
    assert values(api.execute("SELECT name FROM pragma_table_info('posts_tag')")) == [
        ["id"],
        ["name"],
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE mine(x)",
        "CREATE TEMP TABLE mine(x)",
        "DROP TABLE posts_tag",
        "ALTER TABLE posts_tag ADD COLUMN x",
        "CREATE INDEX i ON posts_tag(name)",
        "CREATE TRIGGER t AFTER INSERT ON posts_tag BEGIN DELETE FROM posts_post; END",
        "CREATE TEMP TRIGGER t AFTER INSERT ON posts_tag BEGIN DELETE FROM posts_post; END",
        "CREATE VIEW v AS SELECT password FROM accounts_user",
        "DROP TRIGGER posts_post_fts_ai",
        "REINDEX",
        "ANALYZE",
    ],
)
def test_ddl_is_refused(api, sql):
    result = api.execute(sql)
    assert refused(result) == "SQLITE_AUTH"


def test_the_engines_own_statements_cannot_be_replayed(api, acme):
    from apps.tenancy.routing.databases import ADVANCE_SQL

    api.execute("INSERT INTO posts_tag(name) VALUES ('a')")  # the engine ran ADVANCE_SQL here
    body = api.run({"type": "execute", "stmt": {"sql": ADVANCE_SQL}}, {"type": "close"})
    assert body["results"][0]["error"]["code"] == "SQLITE_AUTH"


def test_the_apps_own_connection_carries_no_authorizer(api, client, acme):
    api.execute("SELECT * FROM accounts_user")
    with tenant_context(acme):
        user = User.objects.get()
        assert user.password  # the app still reads the hash (sign-in works)
    response = client.post(
        "/login/", {"username": admin_email("acme"), "password": "x"}, HTTP_HOST=host("acme")
    )
    assert response.status_code in (200, 302)


def test_the_readme_documents_exactly_the_surface():
    """The README's table of what a token reaches lists the tables of surface.TABLES."""
    from pathlib import Path

    from apps.sqlapi.surface import PRAGMAS, TABLES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Your workspace over HTTP", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {
        name for row in rows for name in row.split("|")[1].strip().strip("`").split("`, `")
    }
    assert documented == set(TABLES)
    for table in TABLES.values():
        row = next(row for row in rows if f"`{table.name}`" in row)
        for column in sorted(table.writable_columns | table.hidden):
            assert f"`{column}`" in row, (table.name, column)
    for pragma in PRAGMAS:
        assert f"`{pragma}`" in section


def test_rendering_is_there_for_the_next_statement_of_a_transaction(api, acme):
    with tenant_context(acme):
        author = User.objects.get().pk
    insert = stmt(
        "INSERT INTO posts_post(title, body, body_html, excerpt, author_id, created_at) "
        "VALUES ('tx', '# Hi', '<script>x</script>', '', ?, '2026-01-01')",
        author,
    )
    body = api.run(
        {"type": "execute", "stmt": stmt("BEGIN")},
        {"type": "execute", "stmt": insert},
        {"type": "execute", "stmt": stmt("SELECT body_html FROM posts_post WHERE title = 'tx'")},
        {"type": "execute", "stmt": stmt("ROLLBACK")},
        {"type": "close"},
    )
    seen = body["results"][2]["response"]["result"]
    assert "<script>" not in values(seen)[0][0]
    assert values(seen)[0][0].startswith("<h1>Hi</h1>")


@pytest.mark.parametrize("sql", ["CREATE TABLE mine(x)", "DROP TABLE posts_tag"])
def test_a_schema_change_is_refused_as_one(api, sql):
    error = api.execute(sql)
    assert refused(error) == "SQLITE_AUTH"
    assert "changing the schema is not allowed" in error["message"]
