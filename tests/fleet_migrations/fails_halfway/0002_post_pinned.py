import importlib

Migration = importlib.import_module("tests.fleet_migrations.add_pinned.0002_post_pinned").Migration
