import time

from django.db import migrations


def pause(apps, schema_editor):
    time.sleep(0.2)


class Migration(migrations.Migration):
    dependencies = [("posts", "9001_post_pinned")]

    operations = [migrations.RunPython(pause, migrations.RunPython.noop)]
