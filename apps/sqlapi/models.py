"""Database tokens: who may reach a workspace's database over HTTP (kept in the catalog)."""

from __future__ import annotations

from django.db import models

from apps.tenancy.models import Tenant


class DatabaseToken(models.Model):
    """A bearer token for one workspace's SQL endpoint; only its SHA-256 is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="database_tokens")
    name = models.CharField(max_length=60)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)  # the first characters, to recognise a token
    read_only = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=254, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_database_token_per_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class RefusedTokenAttempt(models.Model):
    """How many requests a workspace's SQL endpoint refused for their token, per day."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    reason = models.CharField(max_length=20)  # missing, unknown, foreign, revoked, expired
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "day", "reason"], name="one_refusal_count_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.day} {self.reason}: {self.count}"
