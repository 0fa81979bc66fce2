"""Fixtures the posts tests share: the ``acme`` workspace and a member signed in to it."""

import pytest
from django.test import Client


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme")


@pytest.fixture
def member(acme, sign_in):
    client = Client()
    sign_in(client, acme)
    return client
