"""Full-text search over posts and comments (SQLite FTS5), and HTML for older posts.

The indexes are external-content FTS5 tables kept in step by triggers, so every write
path (the app, Django admin, a shell) updates them. A later migration that makes Django
rebuild posts_post or posts_comment (SQLite's "remake table") drops these triggers and
must create them again: tests/posts/test_search.py checks they exist.
"""

from django.db import migrations

from apps.posts.markdown import render_markdown

TRIGGERS = {
    "posts_post": ("posts_post_fts", ["title", "body"]),
    "posts_comment": ("posts_comment_fts", ["body"]),
}


def create_sql() -> list[str]:
    statements = []
    for table, (index, columns) in TRIGGERS.items():
        names = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        statements += [
            f"CREATE VIRTUAL TABLE {index} USING fts5({names}, content='{table}', "
            "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
            f"CREATE TRIGGER {index}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {index}(rowid, {names}) VALUES (new.id, {new}); END",
            f"CREATE TRIGGER {index}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old}); END",
            f"CREATE TRIGGER {index}_au AFTER UPDATE ON {table} BEGIN "
            f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {index}(rowid, {names}) VALUES (new.id, {new}); END",
            f"INSERT INTO {index}({index}) VALUES ('rebuild')",
        ]
    return statements


def drop_sql() -> list[str]:
    statements = []
    for index, _columns in TRIGGERS.values():
        statements += [f"DROP TRIGGER {index}_{kind}" for kind in ("ai", "ad", "au")]
        statements.append(f"DROP TABLE {index}")
    return statements


def render_existing(apps, schema_editor):
    alias = schema_editor.connection.alias
    for model_name in ("Post", "Comment"):
        model = apps.get_model("posts", model_name)
        for row in model.objects.using(alias).filter(body_html=""):
            row.body_html = render_markdown(row.body)
            row.save(update_fields=["body_html"])


class Migration(migrations.Migration):
    dependencies = [("posts", "0002_tags_comments_markdown")]

    operations = [
        migrations.RunSQL(create_sql(), drop_sql()),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
