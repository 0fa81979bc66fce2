"""Quire's tenancy engine: one SQLite database file per tenant.

Public API (the product apps use these modules and nothing else):

- ``apps.tenancy.context``: ``activate``, ``deactivate``, ``get_current_tenant``,
  ``require_current_tenant``, ``tenant_context``.
- ``apps.tenancy.services``: ``tenant_create``, ``tenant_migrate``.
- ``apps.tenancy.selectors``: ``tenant_get``, ``tenant_list``, ``tenant_slug_available``,
  ``tenant_pending_migrations``, ``tenant_database_size``.
- ``apps.tenancy.databases``: ``tenant_connection`` for raw SQL in the current tenant.
- ``apps.tenancy.urls``: ``tenant_url``.
- ``apps.tenancy.slugs``: ``validate_slug``, ``normalize_slug``.
- ``apps.tenancy.exceptions``: ``ApplicationError`` and its subclasses.
- ``apps.tenancy.middleware.TenantMiddleware`` and ``apps.tenancy.router.TenantRouter``
  for settings.
"""
