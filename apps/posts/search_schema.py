"""SQL of the full-text search indexes (FTS5) and the triggers that keep them in step.

Migrations use it. Django's SQLite schema editor rebuilds a table for many changes
("remake table"); that drops the table's triggers, so a migration that changes posts_post
or posts_comment must end with ``RunSQL(trigger_sql())``. The triggers index a row as
it is once the statement's earlier triggers ran (see ``apps/sqlapi/surface.py``).

The indexes hold the plain text of posts and comments (``body_text``, what the rendered
HTML reads as), not their Markdown. Migrations written before 0005 indexed the Markdown
source and pass ``MARKDOWN_INDEXES``, so a new database goes through the same steps.
"""

from __future__ import annotations

Indexes = dict[str, tuple[str, list[str]]]

MARKDOWN_INDEXES: Indexes = {
    "posts_post": ("posts_post_fts", ["title", "body"]),
    "posts_comment": ("posts_comment_fts", ["body"]),
}
INDEXES: Indexes = {
    "posts_post": ("posts_post_fts", ["title", "body_text"]),
    "posts_comment": ("posts_comment_fts", ["body_text"]),
}


def index_sql(indexes: Indexes = INDEXES) -> list[str]:
    """Return the statements that create the FTS5 tables (external content)."""
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5({', '.join(columns)}, content='{table}', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        for table, (index, columns) in indexes.items()
    ]


def trigger_sql(indexes: Indexes = INDEXES) -> list[str]:
    """Return statements that (re)create the triggers and rebuild the indexes."""
    statements = []
    for table, (index, columns) in indexes.items():
        names = ", ".join(columns)
        old = ", ".join(f"old.{c}" for c in columns)
        remove = f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old});"
        # The row as it is now, not ``new``: a trigger that fired first may have derived
        # columns since (the SQL API renders body_text), and the index must hold those.
        add = (
            f"INSERT INTO {index}(rowid, {names}) "
            f"SELECT id, {names} FROM {table} WHERE id = new.id;"
        )
        statements += [
            f"CREATE TRIGGER IF NOT EXISTS {index}_ai AFTER INSERT ON {table} BEGIN {add} END",
            f"CREATE TRIGGER IF NOT EXISTS {index}_ad AFTER DELETE ON {table} BEGIN {remove} END",
            f"CREATE TRIGGER IF NOT EXISTS {index}_au AFTER UPDATE ON {table} "
            f"BEGIN {remove} {add} END",
            f"INSERT INTO {index}({index}) VALUES ('rebuild')",
        ]
    return statements


def drop_sql(indexes: Indexes = INDEXES) -> list[str]:
    """Return the statements that remove triggers and indexes."""
    statements = []
    for index, _columns in indexes.values():
        statements += [f"DROP TRIGGER IF EXISTS {index}_{kind}" for kind in ("ai", "ad", "au")]
        statements.append(f"DROP TABLE IF EXISTS {index}")
    return statements
