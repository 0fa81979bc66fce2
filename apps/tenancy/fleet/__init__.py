"""Fleet lifecycle: creating, migrating, renaming, backing up, restoring and deleting workspaces.

``services`` (every lifecycle change), ``selectors`` (reads of the catalog), ``migrate_all``
(the whole fleet in parallel), ``migrator`` and ``schema`` (one file's migrations),
``template`` (new files in milliseconds), ``journal`` and ``recovery`` (finishing what a
killed operation left), ``trash``, ``dump``, ``doctor``, ``slugs``.
"""
