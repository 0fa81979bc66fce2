"""Sign-up refuses multi-line names and limits how often it is used."""

import pytest
from django.core.cache import cache
from django.test import Client

from apps.tenancy.models import Tenant

APEX = "quire.test"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()


def sign_up(slug, *, email=None, address="198.51.100.7", name="Acme Inc"):
    data = {
        "name": name,
        "subdomain": slug,
        "email": email or f"boss@{slug}.example",
        "password": "a-Strong-pass-9",
    }
    return Client().post("/signup/", data, HTTP_HOST=APEX, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_a_workspace_name_with_a_line_break_is_refused():
    response = sign_up("acme", name="Acme\nBcc: victim@example.com")
    assert response.context["form"].errors == {
        "name": ["Use one line of visible text: no line breaks or control characters."]
    }
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_sign_ups_are_limited_per_client_address(settings):
    settings.QUIRE_MAIL_PER_ADDRESS = 2
    assert sign_up("acme").status_code == 302
    assert sign_up("beta").status_code == 302
    refused = sign_up("gamma")
    assert refused.status_code == 429
    assert b"Too many e-mails requested" in refused.content
    assert refused["Retry-After"] == "3600"
    assert sign_up("gamma", address="192.0.2.1").status_code == 302
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["acme", "beta", "gamma"]


@pytest.mark.django_db
def test_sign_ups_are_limited_per_email_address(settings):
    settings.QUIRE_MAIL_PER_RECIPIENT = 1
    assert sign_up("acme", email="boss@example.com").status_code == 302
    refused = sign_up("beta", email="Boss@Example.com", address="192.0.2.1")
    assert refused.status_code == 429


@pytest.mark.django_db
def test_a_stray_session_cookie_on_the_main_site_is_ignored():
    # The main site keeps no sessions (they live in workspaces); a cookie sent there anyway
    # (a hand-made request, a cookie scoped too widely) must not reach the session store.
    client = Client()
    client.cookies["sessionid"] = "x" * 32
    assert client.get("/", HTTP_HOST=APEX).status_code == 200
    assert client.post("/signup/", {}, HTTP_HOST=APEX).status_code == 200
