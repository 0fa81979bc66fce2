"""Settings for the test suite (pytest --ds=config.settings.test)."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES

DEBUG = False
SECRET_KEY = "test-only-secret-key"  # noqa: S105
QUIRE_BASE_DOMAIN = "quire.test"
ALLOWED_HOSTS = [".quire.test"]
QUIRE_URL_SCHEME = "http"
QUIRE_URL_PORT = ""
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
QUIRE_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Jobs run at once, in the request that queued them (after its commit); tests/jobs use
# the database queue and a real worker.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
# A file-backed catalog, so that tests with threads share one real database; one per run,
# so that two runs on one machine never share it.
DATABASES["default"]["TEST"] = {
    "NAME": str(Path(tempfile.gettempdir()) / f"quire-test-catalog-{os.getpid()}.sqlite3")
}
# A fixture in tests/conftest.py points TENANTS_DATA_DIR at a fresh folder per test.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "KEY_FUNCTION": "apps.tenancy.routing.cache.make_key",
    },
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "quire-pages",
        "KEY_FUNCTION": "apps.tenancy.routing.cache.make_key",
        "TIMEOUT": None,
    },
}
# The cache outlives each test, so counts would add up over the whole run: the limits are
# out of reach here, and the tests of rate limits set their own.
QUIRE_LOGIN_ATTEMPTS = 10_000
QUIRE_LOGIN_ACCOUNT_ATTEMPTS = 10_000
QUIRE_MAIL_PER_ADDRESS = 10_000
QUIRE_MAIL_PER_RECIPIENT = 10_000
# Serve static files from static/ without collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Usage counts stay in memory unless a test flushes them (no thread writing the catalog).
QUIRE_USAGE_FLUSH_SECONDS = 0
