from django.db import models


class DigestSchedule(models.Model):
    """When the workspace's next daily digest is due; one row.

    The digest job that is due at ``next_due`` sends the digests and queues the next
    one; a job carrying any other time is a duplicate or was replaced, and does nothing.
    """

    next_due = models.DateTimeField()

    def __str__(self) -> str:
        return f"Next digest at {self.next_due:%Y-%m-%d %H:%M} UTC"


class Delivery(models.Model):
    """One notification queued for one member, so a job that runs twice e-mails once.

    ``key`` names the event and the member (``comment:<id>:<member id>``); the sending
    jobs are queued in the same unit of work that records it.
    """

    key = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
