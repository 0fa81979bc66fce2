"""Full-text search over posts and comments (SQLite FTS5), and HTML for older posts.

The indexes are external-content FTS5 tables kept in step by triggers, so every write
path (the app, Django admin, a shell) updates them (apps/posts/search_schema.py).
"""

from django.db import migrations

from apps.posts.markdown import render_markdown
from apps.posts.search_schema import MARKDOWN_INDEXES, drop_sql, index_sql, trigger_sql

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
        migrations.RunSQL(
            index_sql(MARKDOWN_INDEXES) + trigger_sql(MARKDOWN_INDEXES), drop_sql(MARKDOWN_INDEXES)
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
