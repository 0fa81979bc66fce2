"""The WSGI application: SQL API calls answered by their own door, the rest by Django.

``apps.sqlapi.gateway.SqlApiGateway`` answers a ``POST`` to a workspace's SQL endpoint
without Django's request machinery (it is most of such a call's cost); every other
request goes to Django's handler as it comes.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

django_application = get_wsgi_application()

from apps.sqlapi.gateway import SqlApiGateway  # noqa: E402 (needs Django set up)

application = SqlApiGateway(django_application)
