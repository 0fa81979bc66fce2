from django.conf import settings
from django.db import models


class Tenant(models.Model):
    """A workspace in the catalog; its data lives in its own SQLite file."""

    class Status(models.TextChoices):
        PROVISIONING = "provisioning", "Provisioning"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        MOVING = "moving", "Moving to another node"
        # Files being renamed or restored; a journal (fleet.journal) says how to finish.
        MAINTENANCE = "maintenance", "Briefly unavailable (rename or restore)"
        DELETED = "deleted", "Deleted (in the trash)"

    slug = models.CharField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROVISIONING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set once, when provisioning finished: a provisioning row without it was never served.
    activated_at = models.DateTimeField(null=True, blank=True)
    # The node (QUIRE_NODE_ID) that serves this tenant; empty: any node (one machine).
    home_node = models.CharField(max_length=63, blank=True, default="")
    # The plan's storage cap in bytes; empty means TENANT_MAX_DB_BYTES.
    max_db_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def has_database(self) -> bool:
        """Return True when the tenant's database file is expected in the tenants folder."""
        return self.status in (self.Status.ACTIVE, self.Status.SUSPENDED, self.Status.MAINTENANCE)

    @property
    def storage_cap(self) -> int:
        """Return the bytes this tenant may store: its plan's cap, else TENANT_MAX_DB_BYTES."""
        return self.max_db_bytes or settings.TENANT_MAX_DB_BYTES

    @property
    def is_servable(self) -> bool:
        """Return True when requests may reach this tenant's data."""
        return self.status == self.Status.ACTIVE


class ReplicaPlacement(models.Model):
    """A node that holds a read replica of a tenant's file (the primary is its home node).

    The node's replica supervisor reports how far the replica has come: the commit
    position it has applied, and when it last looked.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="replicas")
    node = models.CharField(max_length=63)
    placed_at = models.DateTimeField(auto_now_add=True)
    position = models.BigIntegerField(null=True, blank=True)
    epoch = models.IntegerField(null=True, blank=True)  # of the bookmark (restores)
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "node"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "node"], name="one_replica_per_node")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.node}"


class Plan(models.Model):
    """Monthly quotas a workspace may use (calendar months, UTC); an empty quota is unlimited.

    A tenant without a plan has no quotas. Assign one with ``manage.py tenant_plan``.
    """

    name = models.CharField(max_length=63, unique=True)
    rows_read_per_month = models.BigIntegerField(null=True, blank=True)
    rows_written_per_month = models.BigIntegerField(null=True, blank=True)
    api_calls_per_month = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantPlan(models.Model):
    """The plan a tenant is on (none: no quotas)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="plan_choice")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="tenant_plans")

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.plan_id}"


class UsageDay(models.Model):
    """What one workspace used on one day (UTC), all nodes and processes together.

    Processes count in memory and add their counts here every few seconds
    (``apps.tenancy.metering.flush``); ``storage_bytes`` is the last sample of the day.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    api_calls = models.BigIntegerField(default=0)
    storage_bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day"], name="one_usage_row_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.day}"
