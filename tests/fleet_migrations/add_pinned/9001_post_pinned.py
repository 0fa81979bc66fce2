from pathlib import Path

from django.db import migrations, models

import apps.posts.migrations as real

LATEST_REAL = max(
    path.stem for path in Path(real.__file__).parent.glob("[0-9][0-9][0-9][0-9]_*.py")
)


class Migration(migrations.Migration):
    dependencies = [("posts", LATEST_REAL)]

    operations = [
        migrations.AddField("post", "pinned", models.BooleanField(default=False)),
        migrations.AddIndex(
            "post", models.Index(fields=["pinned", "-created_at"], name="posts_pinned_idx")
        ),
    ]
