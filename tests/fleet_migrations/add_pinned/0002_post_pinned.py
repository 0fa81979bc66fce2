from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("posts", "0001_initial")]

    operations = [
        migrations.AddField("post", "pinned", models.BooleanField(default=False)),
        migrations.AddIndex(
            "post", models.Index(fields=["pinned", "-created_at"], name="posts_pinned_idx")
        ),
    ]
