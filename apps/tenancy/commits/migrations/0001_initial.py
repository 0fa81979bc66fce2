from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="CommitPosition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "quire_commit_position"},
        ),
        migrations.RunSQL(
            "INSERT INTO quire_commit_position (id, position) VALUES (1, 0)",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
