"""Sign-in throttling on every path, the client's real address, safe redirects, e-mail links
and e-mail rate limits."""

import re

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.core.cache import cache
from django.test import Client, RequestFactory

from apps.core.clientaddress import client_address
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, admin_email, host

ATTACKER, OWNER, PROXY = "203.0.113.66", "198.51.100.7", "10.0.0.1"


@pytest.fixture(autouse=True)
def fresh_counters():
    """Start each test with no failures or e-mails counted (the cache outlives tests)."""
    cache.clear()


@pytest.fixture
def acme(make_tenant, settings):
    settings.QUIRE_LOGIN_ATTEMPTS = 3
    return make_tenant("acme")


WRONG = "not-the-password"


def attempt(path="/login/", password=WRONG, address=ATTACKER, **extra):
    data = {"username": admin_email("acme"), "password": password}
    return Client().post(path, data, HTTP_HOST=host("acme"), REMOTE_ADDR=address, **extra)


def test_admin_sign_in_is_throttled_like_the_workspace_sign_in(acme):
    for _ in range(3):
        assert attempt("/admin/login/").status_code == 200
    blocked = attempt("/admin/login/", password=PASSWORD)
    assert blocked.status_code == 429
    assert b"Too many sign-in attempts" in blocked.content
    assert blocked["Retry-After"] == "300"
    assert attempt("/login/", password=PASSWORD).status_code == 429  # one count for both


def test_every_caller_of_authenticate_is_throttled(acme):
    request = RequestFactory().post("/anything/", REMOTE_ADDR=ATTACKER)
    with tenant_context(acme):
        for _ in range(3):
            assert authenticate(request, username=admin_email("acme"), password="no") is None
        assert authenticate(request, username=admin_email("acme"), password=PASSWORD) is None
        elsewhere = RequestFactory().post("/anything/", REMOTE_ADDR=OWNER)
        assert authenticate(elsewhere, username=admin_email("acme"), password=PASSWORD)


def test_one_address_guessing_does_not_lock_out_the_account_elsewhere(acme):
    for _ in range(4):
        attempt()
    assert attempt(password=PASSWORD).status_code == 429
    assert attempt(password=PASSWORD, address=OWNER).status_code == 302


def test_guesses_from_many_addresses_pause_the_account_but_not_for_its_owner(acme, settings):
    settings.QUIRE_LOGIN_ACCOUNT_ATTEMPTS = 5
    assert attempt(password=PASSWORD, address=OWNER).status_code == 302  # a known address
    for n in range(5):
        assert attempt(address=f"203.0.113.{n + 1}").status_code == 200
    assert attempt(password=PASSWORD, address="192.0.2.50").status_code == 429
    assert attempt(password=PASSWORD, address=OWNER).status_code == 302


def test_behind_the_trusted_proxy_each_client_is_counted_on_its_own(acme, settings):
    settings.QUIRE_TRUSTED_PROXIES = [PROXY]
    for _ in range(3):
        attempt(address=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert (
        attempt(password=PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    )
    assert attempt(password=PASSWORD, address=PROXY, HTTP_X_FORWARDED_FOR=OWNER).status_code == 302


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(acme, settings):
    settings.QUIRE_TRUSTED_PROXIES = [PROXY]
    for n in range(3):
        attempt(HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert attempt(password=PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        (OWNER, "", OWNER),  # no proxy
        (OWNER, "192.0.2.1", OWNER),  # an untrusted peer's header is not believed
        (PROXY, OWNER, OWNER),
        (PROXY, f"192.0.2.1, {OWNER}", OWNER),  # the client's own entries are not believed
        (PROXY, f"{OWNER}, 10.0.0.2", OWNER),  # two proxies deep
        (PROXY, "10.0.0.2", "10.0.0.2"),  # every hop trusted: the last one left
    ],
)
def test_client_address_is_the_first_untrusted_hop(settings, peer, forwarded, client):
    settings.QUIRE_TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_signed_in_member_asking_to_sign_in_again_goes_home(acme, client, sign_in):
    sign_in(client, acme)
    for next_url in ("/login/", "/login/?next=/login/"):
        response = client.get("/login/", {"next": next_url}, HTTP_HOST=host("acme"))
        assert response.status_code == 302 and response.url == "/"
    elsewhere = client.get("/login/", {"next": "/search/"}, HTTP_HOST=host("acme"))
    assert elsewhere.url == "/search/"


def test_email_links_ignore_the_port_in_the_host_header(acme, client, sign_in):
    Client().post(
        "/password-reset/", {"email": admin_email("acme")}, HTTP_HOST=f"{host('acme')}:6666"
    )
    assert re.search(r"^http://acme\.quire\.test/reset/\S+/\S+/$", mail.outbox[-1].body, re.M)
    assert mail.outbox[-1].subject == "Reset your password on Acme"
    sign_in(client, acme)
    client.post(
        "/members/",
        {"email": "new@acme.example", "role": "member"},
        HTTP_HOST="acme.quire.test:6666",
    )
    assert re.search(r"^http://acme\.quire\.test/invitation/\S+/$", mail.outbox[-1].body, re.M)
    assert ":6666" not in mail.outbox[-2].body + mail.outbox[-1].body


def test_email_links_follow_the_configured_scheme_and_port(acme, settings):
    settings.QUIRE_URL_SCHEME, settings.QUIRE_URL_PORT = "https", "8443"
    Client().post("/password-reset/", {"email": admin_email("acme")}, HTTP_HOST=host("acme"))
    assert "https://acme.quire.test:8443/reset/" in mail.outbox[-1].body


def reset(email, address=OWNER):
    return Client().post(
        "/password-reset/", {"email": email}, HTTP_HOST=host("acme"), REMOTE_ADDR=address
    )


def test_password_reset_emails_are_limited_per_recipient(acme, settings):
    settings.QUIRE_MAIL_PER_RECIPIENT = 2
    for n in range(2):
        assert reset(admin_email("acme"), address=f"192.0.2.{n}").status_code == 302
    refused = reset(admin_email("acme"), address="192.0.2.9")
    assert refused.status_code == 429
    assert b"Too many e-mails requested" in refused.content
    assert len(mail.outbox) == 2


def test_password_reset_emails_are_limited_per_client_address(acme, settings):
    settings.QUIRE_MAIL_PER_ADDRESS = 3
    for n in range(3):
        assert reset(f"someone{n}@acme.example").status_code == 302
    assert reset(admin_email("acme")).status_code == 429
    assert mail.outbox == []  # none of the addresses tried is a member; the admin was refused
    assert reset(admin_email("acme"), address=ATTACKER).status_code == 302
    assert len(mail.outbox) == 1
