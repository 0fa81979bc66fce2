import importlib

Migration = importlib.import_module("apps.posts.migrations.0001_initial").Migration
