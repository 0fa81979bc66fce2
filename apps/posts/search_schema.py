"""SQL of the full-text search indexes (FTS5) and the triggers that keep them in step.

Migrations use it. Django's SQLite schema editor rebuilds a table for many changes
("remake table"); that drops the table's triggers, so a migration that changes posts_post
or posts_comment must end with ``RunSQL(trigger_sql())``.
"""

from __future__ import annotations

INDEXES = {
    "posts_post": ("posts_post_fts", ["title", "body"]),
    "posts_comment": ("posts_comment_fts", ["body"]),
}


def index_sql() -> list[str]:
    """Return the statements that create the FTS5 tables (external content)."""
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5({', '.join(columns)}, content='{table}', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
        for table, (index, columns) in INDEXES.items()
    ]


def trigger_sql() -> list[str]:
    """Return statements that (re)create the triggers and rebuild the indexes."""
    statements = []
    for table, (index, columns) in INDEXES.items():
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        remove = f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old});"
        add = f"INSERT INTO {index}(rowid, {names}) VALUES (new.id, {new});"
        statements += [
            f"CREATE TRIGGER IF NOT EXISTS {index}_ai AFTER INSERT ON {table} BEGIN {add} END",
            f"CREATE TRIGGER IF NOT EXISTS {index}_ad AFTER DELETE ON {table} BEGIN {remove} END",
            f"CREATE TRIGGER IF NOT EXISTS {index}_au AFTER UPDATE ON {table} "
            f"BEGIN {remove} {add} END",
            f"INSERT INTO {index}({index}) VALUES ('rebuild')",
        ]
    return statements


def drop_sql() -> list[str]:
    """Return the statements that remove triggers and indexes."""
    statements = []
    for index, _columns in INDEXES.values():
        statements += [f"DROP TRIGGER IF EXISTS {index}_{kind}" for kind in ("ai", "ad", "au")]
        statements.append(f"DROP TABLE IF EXISTS {index}")
    return statements
