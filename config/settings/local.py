"""Settings for a developer's machine: debug on, links on http://*.localhost:8000."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
QUIRE_URL_SCHEME = env("QUIRE_URL_SCHEME", default="http")
QUIRE_URL_PORT = env("QUIRE_URL_PORT", default="8000")
QUIRE_EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
