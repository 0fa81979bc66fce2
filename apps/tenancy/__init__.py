"""Quire's tenancy engine: one SQLite database file per tenant.

It is grouped by concern; the product apps and operators use the modules named here and
nothing else.

Routing and connections (``apps.tenancy.routing``):

- ``context``: ``activate``, ``deactivate``, ``get_current_tenant``,
  ``require_current_tenant``, ``tenant_context``.
- ``work``: the unit of work, the one door for writes to the current workspace:
  ``atomic``, ``on_commit``, ``cursor``, ``commit_position``.
- ``sqlaccess``: ``sql_connection`` (a connection of its own on a workspace's file, for
  SQL clients send: read-only or read-write, no ATTACH), ``advance_position``,
  ``commit_position_of``, ``file_inode``, ``same_file``, ``slug_of_host``.
- ``storage``: ``media_dir``, ``stored_bytes`` (a tenant's stored files, such as
  attachments: counted in its storage, trashed with it, moved by a rename, copied by
  backups beside the file, ``files_beside``).
- ``errors``: SQLite's result codes read into busy / full / interrupted / damaged pages.
- ``urls``: ``tenant_url``.
- For settings: ``middleware.TenantMiddleware``, ``router.TenantRouter``,
  ``cache.make_key``, ``storage.TenantFileSystemStorage``.

Fleet lifecycle (``apps.tenancy.fleet``):

- ``services``: ``tenant_create``, ``tenant_clone``, ``tenant_migrate``,
  ``tenant_update_name``, ``tenant_suspend``, ``tenant_resume``, ``tenant_delete``,
  ``tenant_undelete``, ``tenant_purge``, ``tenant_rename``, ``tenant_backup``,
  ``tenant_export_sql``, ``tenant_restore``, ``tenant_restore_from_replica``,
  ``tenant_adopt``, ``tenant_move``.
- ``selectors``: ``tenant_get``, ``tenant_list``, ``tenant_slug_available``,
  ``tenant_pending_count``, ``tenant_pending_migrations``, ``tenant_database_size``,
  ``tenant_last_activity``.
- ``migrate_all``: ``migrate_tenants`` (parallel, one report per tenant).
- ``doctor``: ``tenant_health``, ``health_from_error`` (is a tenant's file sound?).
- ``recovery``: ``recover`` finishes or undoes what a killed rename, restore, delete or
  undelete left.
- ``slugs``: ``validate_slug``, ``normalize_slug``.

Nodes and replicas (``apps.tenancy.nodes``):

- ``replicas``: ``tenant_replica_place``, ``tenant_replica_remove``, ``replica_list``;
  ``supervisor``: ``Supervisor`` (this node's Litestream followers, for the replicas read).
- ``bookmarks``: ``Bookmark`` (``<epoch>.<position>``), ``bookmark_of``; ``sign`` and
  ``verified`` (what readers carry: signed for one workspace).
- ``replication``: Litestream configuration, restores, positions.
- For settings: ``health.HealthCheckMiddleware``.

Across them:

- ``metering``: usage per workspace and day, and plan quotas: ``count_api_call``,
  ``count_rows`` (a plain sqlite3 connection's rows), ``check_quota`` raising
  ``QuotaExceeded`` (``kind``, ``limit``, ``used``, ``resets_at``, ``retry_after``),
  ``exceeded_quotas``, ``flush``, ``storage_bytes`` (database and stored files);
  ``TenantMiddleware`` counts each request it serves.
- ``exceptions``: ``ApplicationError`` and its subclasses.
"""
