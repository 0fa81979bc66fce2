"""Routing and connections: which workspace a request is for, and its file's connection.

``context`` (the current workspace), ``hosts`` (host to slug), ``middleware`` (the request's
workspace), ``router`` and ``databases`` (one alias per file, fail-closed), ``work`` (the
unit of work: the one door for writes), ``memo`` and ``catalogcache`` (rows kept until a
write), ``sqlaccess`` (connections for SQL clients), ``storage``, ``cache``, ``urls``,
``errors`` (SQLite's trouble read into clear answers).
"""
