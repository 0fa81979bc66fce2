"""What SQL sent over HTTP may reach in a workspace's file: the one place that says so.

SQLite enforces it: every statement is checked by an authorizer while it is compiled
(``sqlite3.Connection.set_authorizer``), on a connection of the API's own, never the
app's. Nothing here parses SQL.

- Tables not listed in ``TABLES`` cannot be read or written at all: sessions, password
  hashes, invitations (their tokens sign people in), permissions, the admin log, the
  migration ledger, Django's content types.
- A listed table's ``hidden`` columns read as NULL (so ``SELECT *`` still works).
- Writes: INSERT and DELETE where ``writable`` is true, UPDATE of ``writable_columns``
  only. Members, roles and sign-in are never writable.
- ``derived`` columns are the app's: rendered HTML, its plain text (what search indexes)
  and excerpts. Whatever a client puts there is replaced, in the same statement, by the
  app's own sanitising renderer (``apps.posts.markdown``), run by triggers this
  connection adds in its ``temp`` schema.
- No DDL, no ATTACH (so no ``VACUUM INTO``), no ``load_extension``, and only the PRAGMAs
  in ``PRAGMAS`` (reading, never setting, except the table-describing ones).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from apps.posts.markdown import excerpt, plain_text, render_markdown

OK, DENY, IGNORE = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY, sqlite3.SQLITE_IGNORE


@dataclass(frozen=True)
class Table:
    """One table a token may reach, and how."""

    name: str
    description: str
    writable: bool = False
    writable_columns: frozenset[str] = frozenset()
    hidden: frozenset[str] = frozenset()
    derived: frozenset[str] = frozenset()
    render_sql: str = field(default="", repr=False)  # what the derived columns are set to
    search_index: str = ""  # the app's FTS5 table over this one, kept by its triggers
    indexed: tuple[str, ...] = ()  # the columns that index holds


POST_RENDER = (
    "body_html = quire_render_markdown(new.body), "
    "body_text = quire_plain_text(quire_render_markdown(new.body)), "
    "excerpt = quire_excerpt(quire_render_markdown(new.body))"
)
COMMENT_RENDER = (
    "body_html = quire_render_markdown(new.body), "
    "body_text = quire_plain_text(quire_render_markdown(new.body))"
)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "posts_post",
            "Posts: title, Markdown body, author, dates.",
            writable=True,
            writable_columns=frozenset({"title", "body", "author_id", "created_at", "edited_at"}),
            derived=frozenset({"body_html", "body_text", "excerpt"}),
            render_sql=POST_RENDER,
            search_index="posts_post_fts",
            indexed=("title", "body_text"),
        ),
        Table(
            "posts_comment",
            "Comments under posts, in Markdown.",
            writable=True,
            writable_columns=frozenset({"body", "author_id", "post_id", "created_at"}),
            derived=frozenset({"body_html", "body_text"}),
            render_sql=COMMENT_RENDER,
            search_index="posts_comment_fts",
            indexed=("body_text",),
        ),
        Table(
            "posts_tag",
            "Tags (lower-case names).",
            writable=True,
            writable_columns=frozenset({"name"}),
        ),
        Table(
            "posts_post_tags",
            "Which post carries which tag.",
            writable=True,
            writable_columns=frozenset({"post_id", "tag_id"}),
        ),
        Table(
            "accounts_user",
            "Members (read-only): names, e-mail, role. Password and last sign-in read as NULL.",
            hidden=frozenset({"password", "last_login"}),
        ),
        Table(
            "posts_attachment",
            "Files attached to posts and comments (read-only): name, type, size, post, comment.",
        ),
        Table("posts_post_fts", "Full-text index of posts (read-only; use MATCH)."),
        Table("posts_comment_fts", "Full-text index of comments (read-only; use MATCH)."),
        Table("quire_commit_position", "The workspace's commit position (read-only)."),
    )
}

# PRAGMAs a token may run, only to read (``PRAGMA name`` or ``pragma_name(...)``); the
# describing ones take a table name.
PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_keys",
        "data_version",
        "user_version",
        "schema_version",
        "page_size",
        "page_count",
        "freelist_count",
        "encoding",
        "collation_list",
        "function_list",
    }
)
PRAGMAS_WITH_ARGUMENT = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo"}
) | {"foreign_key_list"}
SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})
# Table-valued functions that read only their arguments.
FUNCTION_TABLES = frozenset({"json_each", "json_tree"})
REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile"})
APP_FUNCTIONS = ("quire_render_markdown", "quire_plain_text", "quire_excerpt")
DDL_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in dir(sqlite3)
    if name.startswith(("SQLITE_CREATE_", "SQLITE_DROP_"))
) | {sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE}


def trigger_name(table: Table, event: str) -> str:
    """Return the name of the temp trigger that derives a table's columns after an event."""
    return f"quire_api_{table.name}_{event}"


def render_triggers(existing: set[str]) -> list[tuple[str, str]]:
    """Return (name, SQL) of the temp triggers that re-derive rendered columns.

    Temp triggers fire before the app's own (SQLite lists them first), and the update
    that writes the rendering fires the app's search-index trigger, which takes the row
    out of the index with its values of before that update and indexes the row as it is
    now. So each of ours first puts the index in the state that update expects and,
    after it, back in the state the app's trigger for the client's statement expects (the
    row indexed with that statement's ``old`` values, or not at all for an insert): the
    index stays exact, rendered plain text included.
    """
    triggers = []
    for table in TABLES.values():
        if not table.render_sql:
            continue
        fts = table.search_index if table.search_index in existing else ""
        for event, when in (("insert", "INSERT"), ("update", "UPDATE OF body")):
            name = trigger_name(table, event)
            # Names and SQL come from the constants above.
            head = f"CREATE TEMP TRIGGER IF NOT EXISTS {name} AFTER {when} ON main.{table.name}"
            render = f"UPDATE {table.name} SET {table.render_sql} WHERE id = new.id"  # noqa: S608
            steps = _around_index(table, fts, event, render)
            triggers.append((name, f"{head} BEGIN {'; '.join(steps)}; END"))
    return triggers


def _around_index(table: Table, fts: str, event: str, render: str) -> list[str]:
    if not fts:
        return [render]
    columns = ", ".join(table.indexed)

    def add(row: str) -> str:
        values = ", ".join(f"{row}.{column}" for column in ("id", *table.indexed))
        return f"INSERT INTO {fts}(rowid, {columns}) VALUES ({values})"  # noqa: S608

    def remove(row: str) -> str:
        values = ", ".join(f"{row}.{column}" for column in ("id", *table.indexed))
        return f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', {values})"  # noqa: S608

    remove_current = (
        f"INSERT INTO {fts}({fts}, rowid, {columns}) "  # noqa: S608
        f"SELECT 'delete', id, {columns} FROM {table.name} WHERE id = new.id"
    )
    if event == "insert":  # the app's insert trigger has not indexed the row yet
        return [add("new"), render, remove_current]
    return [remove("old"), add("new"), render, remove_current, add("old")]


class Authorizer:
    """The authorizer callback of one API connection; remembers why it last refused."""

    def __init__(self, *, read_only: bool, trusted_sources: frozenset[str]) -> None:
        self.read_only = read_only
        self.trusted_sources = trusted_sources
        self.read_only_transaction = False  # BEGIN TRANSACTION READONLY until it ends
        # False while the client's statement compiles; True once it runs (``started``).
        self.running = False
        self.refusal = ""

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            # Never, not even inside a statement that runs: VACUUM attaches its copy then.
            return self.refuse("ATTACH and VACUUM are not allowed over the SQL API")
        if self.running or (source is not None and source in self.trusted_sources):
            # The app's own triggers (search index, rendering) do their work, and so do
            # the statements a module (FTS5) compiles for itself while a statement runs.
            return OK
        check = self.checks.get(action)
        if check is None:
            return self.refuse(f"{_action_name(action)} is not allowed over the SQL API")
        return check(self, arg1, arg2)

    def compiling(self) -> None:
        """Check everything from now on: the client's next statement compiles."""
        self.running = False
        self.refusal = ""

    def started(self, _sql: str) -> None:
        """Note that the statement runs (SQLite's trace callback, after any recompiling).

        What compiles from now until the next ``compiling`` is SQL of SQLite's own modules
        (FTS5 reads and writes its index tables with statements it compiles itself),
        never the client's: that text was compiled and authorized before it ran.
        """
        self.running = True

    def refuse(self, reason: str) -> int:
        self.refusal = self.refusal or reason  # the first reason is the one to tell
        return DENY

    def allow(self, arg1: str | None, arg2: str | None) -> int:
        return OK

    def schema_update(self, table_name: str | None, column: str | None) -> int:
        # SQLite itself refuses writes to the schema table to any SQL but its own (without
        # writable_schema, a PRAGMA refused here); it checks this while it loads a module.
        if table_name in SCHEMA_TABLES:
            return OK
        return self.update(table_name, column)

    def read(self, table_name: str | None, column: str | None) -> int:
        if table_name in SCHEMA_TABLES or table_name in FUNCTION_TABLES:
            return OK
        if (table_name or "").startswith("pragma_"):
            return OK  # a PRAGMA as a table: the PRAGMA itself is checked (``pragma``)
        table = TABLES.get(table_name or "")
        if table is None:
            return self.refuse(f"table {table_name} is not available over the SQL API")
        return IGNORE if column in table.hidden else OK

    def insert_or_delete(self, table_name: str | None, _arg2: str | None) -> int:
        table = self._writable(table_name)
        return OK if table is not None else DENY

    def update(self, table_name: str | None, column: str | None) -> int:
        table = self._writable(table_name)
        if table is None:
            return DENY
        if column not in table.writable_columns:
            return self.refuse(f"column {table_name}.{column} cannot be changed over the SQL API")
        return OK

    def function(self, _arg1: str | None, name: str | None) -> int:
        lowered = (name or "").lower()
        if lowered in REFUSED_FUNCTIONS or lowered in APP_FUNCTIONS:
            return self.refuse(f"function {name}() is not allowed over the SQL API")
        return OK

    def pragma(self, name: str | None, argument: str | None) -> int:
        lowered = (name or "").lower()
        if lowered not in PRAGMAS:
            return self.refuse(f"PRAGMA {name} is not allowed over the SQL API")
        if argument is not None and lowered not in PRAGMAS_WITH_ARGUMENT:
            return self.refuse(f"PRAGMA {name} may only be read over the SQL API")
        return OK

    def _writable(self, table_name: str | None) -> Table | None:
        if self.read_only:
            self.refuse("this token is read-only")
            return None
        if self.read_only_transaction:
            self.refuse("this is a read-only transaction")
            return None
        if table_name in SCHEMA_TABLES:  # asked first by CREATE, DROP and ALTER
            self.refuse("changing the schema is not allowed over the SQL API")
            return None
        table = TABLES.get(table_name or "")
        if table is None or not table.writable:
            self.refuse(f"table {table_name} cannot be written over the SQL API")
            return None
        return table

    checks: dict[int, Callable[[Authorizer, str | None, str | None], int]] = {
        sqlite3.SQLITE_SELECT: allow,
        sqlite3.SQLITE_RECURSIVE: allow,
        sqlite3.SQLITE_TRANSACTION: allow,
        sqlite3.SQLITE_SAVEPOINT: allow,
        sqlite3.SQLITE_READ: read,
        sqlite3.SQLITE_INSERT: insert_or_delete,
        sqlite3.SQLITE_DELETE: insert_or_delete,
        sqlite3.SQLITE_UPDATE: schema_update,
        sqlite3.SQLITE_FUNCTION: function,
        sqlite3.SQLITE_PRAGMA: pragma,
    }


def _action_name(action: int) -> str:
    if action in DDL_ACTIONS:
        return "changing the schema"
    return "this statement"


def prepare(connection: sqlite3.Connection, *, read_only: bool) -> Authorizer:
    """Give a fresh API connection the app's render functions, triggers and authorizer."""
    connection.create_function("quire_render_markdown", 1, _render, deterministic=True)
    connection.create_function("quire_plain_text", 1, _plain_text, deterministic=True)
    connection.create_function("quire_excerpt", 1, _excerpt, deterministic=True)
    schema = connection.execute("SELECT type, name FROM main.sqlite_master").fetchall()
    ours = []
    if not read_only:
        for name, sql in render_triggers({row[1] for row in schema}):
            connection.execute(sql)
            ours.append(name)
    trusted = frozenset(ours) | {row[1] for row in schema if row[0] == "trigger"}
    authorizer = Authorizer(read_only=read_only, trusted_sources=trusted)
    connection.set_authorizer(authorizer)
    connection.set_trace_callback(authorizer.started)
    return authorizer


def _render(source: object) -> str:
    # A row's SQL asks for the same rendering once per derived column: render it once.
    return _rendered(source if isinstance(source, str) else "")


@lru_cache(maxsize=32)
def _rendered(source: str) -> str:
    return render_markdown(source)


def _plain_text(html: object) -> str:
    return plain_text(html if isinstance(html, str) else "")


def _excerpt(html: object) -> str:
    return excerpt(html if isinstance(html, str) else "")
