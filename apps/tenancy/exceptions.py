"""Exceptions of the application: one root, precise subclasses."""


class ApplicationError(Exception):
    """Root of every error Quire raises on purpose."""


class NoActiveTenant(ApplicationError):
    """A tenant-only model was used while no tenant is active."""


class CrossTenantRelation(ApplicationError):
    """Objects of two different tenants were related or mixed."""


class InvalidSlug(ApplicationError):
    """The slug cannot name a tenant."""


class SlugTaken(ApplicationError):
    """Another tenant already holds this slug."""


class TenantDatabaseExists(ApplicationError):
    """A database file for this slug exists although the catalog has no such tenant."""


class TenantDatabaseMissing(ApplicationError):
    """The catalog lists a tenant whose database file is not on disk."""


class TenantDatabaseDamaged(ApplicationError):
    """A served tenant's file is empty or is not a Quire database (no migration ledger)."""


class ReplicaReadOnly(ApplicationError):
    """A request served from a read replica tried to write; the primary must serve it."""


class InvalidTenantState(ApplicationError):
    """The tenant's status does not allow this operation."""


class RestoreRefused(ApplicationError):
    """A file offered for restore is damaged, foreign, or newer than the code."""


class MigrationFailed(ApplicationError):
    """Applying migrations to a tenant database failed."""
