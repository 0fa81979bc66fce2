from django.db import migrations


def fail_if_marked(apps, schema_editor):
    post = apps.get_model("posts", "Post")
    if post.objects.using(schema_editor.connection.alias).filter(title="fail-here").exists():
        raise RuntimeError("this tenant's data breaks migration 9002")


class Migration(migrations.Migration):
    dependencies = [("posts", "9001_post_pinned")]

    operations = [migrations.RunPython(fail_if_marked, migrations.RunPython.noop)]
