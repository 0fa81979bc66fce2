import time

import pytest
from django.core import signing
from django.test import Client

from apps.accounts.models import User
from apps.accounts.services import handoff_token_make
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from tests.conftest import host

APEX = "quire.test"
GOOD = {
    "name": "Acme Inc",
    "subdomain": "acme",
    "email": "Boss@Acme.example",
    "password": "a-Strong-pass-9",
}


def sign_up(client, **changes):
    return client.post("/signup/", {**GOOD, **changes}, HTTP_HOST=f"{APEX}:8000")


@pytest.mark.django_db
def test_signup_lands_signed_in_on_the_new_workspace(client, settings):
    settings.QUIRE_URL_PORT = "8000"  # links follow the settings, not the request's Host
    response = sign_up(client)
    assert response.status_code == 302
    assert response.url.startswith("http://acme.quire.test:8000/welcome/")
    path = response.url.removeprefix("http://acme.quire.test:8000")

    welcome = client.get(path, HTTP_HOST="acme.quire.test:8000")
    assert welcome.status_code == 302 and welcome.url == "/"
    home = client.get("/", HTTP_HOST="acme.quire.test:8000")
    assert home.status_code == 200
    assert b"boss</a>" in home.content  # the name (here from the e-mail), not the address
    assert b"Welcome to Acme Inc!" in home.content


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"subdomain": "a"}, "subdomain", "between 3 and 63"),
        ({"subdomain": "bad_name"}, "subdomain", "lowercase letters"),
        ({"subdomain": "www"}, "subdomain", "reserved"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password": "short"}, "password", "too short"),
        ({"password": "12345678901"}, "password", "entirely numeric"),
        ({"password": "password123"}, "password", "too common"),
    ],
)
@pytest.mark.django_db
def test_each_invalid_field_gets_its_own_message(client, changes, field, message):
    response = sign_up(client, **changes)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_taken_subdomain_is_reported_on_the_field(client):
    sign_up(client)
    response = sign_up(client, email="other@acme.example")
    assert response.context["form"].errors["subdomain"] == [
        "The subdomain 'acme' is already taken."
    ]


@pytest.mark.django_db
def test_subdomain_is_normalised(client):
    response = sign_up(client, subdomain="  AcMe ")
    assert response.url.startswith("http://acme.quire.test/")


def welcome(client, token, slug="acme"):
    return client.get(f"/welcome/{token}/", HTTP_HOST=host(slug))


def admin_token(tenant, slug=None):
    with tenant_context(tenant):
        admin = User.objects.get(email="admin@acme.example")
        return handoff_token_make(user=admin, tenant_slug=slug or tenant.slug)


def test_handoff_token_works_once(client, make_tenant):
    token = admin_token(make_tenant("acme"))
    assert welcome(client, token).status_code == 302
    reused = welcome(Client(), token)
    assert reused.status_code == 400
    assert b"already been used" in reused.content


def test_expired_handoff_token_is_refused(client, make_tenant, monkeypatch):
    tenant = make_tenant("acme")
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 120)
    token = admin_token(tenant)
    monkeypatch.undo()
    response = welcome(client, token)
    assert response.status_code == 400
    assert b"has expired" in response.content


def test_tampered_handoff_token_is_refused(client, make_tenant):
    token = admin_token(make_tenant("acme"))
    _payload, rest = token.split(":", 1)
    forged = signing.b64_encode(b'{"t":"acme","u":2,"l":""}').decode() + ":" + rest
    for bad in (forged, token[:-2] + "xx", "garbage"):
        response = welcome(client, bad)
        assert response.status_code == 400
        assert b"not valid" in response.content
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302  # still signed out


def test_handoff_token_for_another_workspace_is_refused(client, make_tenant):
    acme = make_tenant("acme")
    make_tenant("beta")
    token = admin_token(acme)
    assert welcome(client, token, slug="beta").status_code == 400
