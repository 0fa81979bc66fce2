from django.db import models


class CommitPosition(models.Model):
    """How many write transactions the workspace has committed (one row, id 1).

    The unit of work advances it inside each transaction that changed a row, so it is
    as durable as the write itself and travels with the file (restores, moves, copies).
    """

    position = models.BigIntegerField(default=0)
    # Grows by one with every in-place restore (apps.tenancy.nodes.bookmarks).
    epoch = models.IntegerField(default=0)

    class Meta:
        db_table = "quire_commit_position"

    def __str__(self) -> str:
        return f"commit {self.position}"
