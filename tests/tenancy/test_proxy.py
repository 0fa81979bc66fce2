"""The generated nginx config agrees with what the nodes expect of their proxy."""

import re

import pytest

from apps.tenancy.nodes.proxy import nginx_config


@pytest.mark.django_db
def test_nginx_names_the_client_and_refuses_large_bodies_like_django(settings):
    settings.QUIRE_NODES = {"node-1": "10.0.0.11:8000"}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    settings.QUIRE_MAX_UPLOAD_BYTES = 1024 * 1024  # a form with attachments may be this larger
    text = nginx_config(listen="443")
    # The edge replaces a client-sent X-Forwarded-For: only its own view of the peer counts.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "$proxy_add_x_forwarded_for" not in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert re.search(r"^\s+client_max_body_size 1310720;$", text, re.M)
