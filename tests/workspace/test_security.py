"""Workspace names stay on one line; the SQLite export carries no sessions or secrets."""

import sqlite3

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.test import Client

from apps.accounts.models import Invitation, User
from apps.tenancy.fleet.services import tenant_update_name
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, admin_email, host

NEW_PASSWORD = "another-Strong-pass-7"
ONE_LINE = "Use one line of visible text: no line breaks or control characters."


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme")


def invite(client):
    data = {"email": "new@acme.example", "role": "member"}
    return client.post("/members/", data, HTTP_HOST=host("acme"))


@pytest.mark.parametrize(
    "name", ["Acme\nBcc: victim@example.com", "Ac\rme", "Acme\u2028Ltd", "\u202eemcA"]
)
def test_a_name_with_a_line_break_or_control_character_is_refused(acme, client, sign_in, name):
    sign_in(client, acme)
    response = client.post("/settings/", {"name": name}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": [ONE_LINE]}
    assert Tenant.objects.get(slug="acme").name == "Acme"


def test_invitations_still_go_out_when_a_stored_name_has_a_line_break(
    acme, client, sign_in, settings
):
    settings.EMAIL_BACKEND = "apps.core.mail.OneLineSubjectBackend"  # pytest-django replaces it
    tenant_update_name(tenant=acme, name="Acme\nBcc: victim@example.com")  # saved before the fix
    sign_in(client, acme)
    assert invite(client).status_code == 302
    assert mail.outbox[-1].subject.endswith("invited you to Acme Bcc: victim@example.com on Quire")
    assert "\n" not in mail.outbox[-1].message()["Subject"]


def test_an_invitee_name_with_a_line_break_is_refused(acme, client, sign_in):
    sign_in(client, acme)
    client.post(
        "/members/", {"email": "new@acme.example", "role": "member"}, HTTP_HOST=host("acme")
    )
    link = next(w for w in mail.outbox[-1].body.split() if "/invitation/" in w)
    path = link.removeprefix("http://acme.quire.test")
    response = Client().post(
        path,
        {
            "first_name": "Nora\nX",
            "password1": "another-Strong-pass-7",
            "password2": "another-Strong-pass-7",
        },
        HTTP_HOST=host("acme"),
    )
    assert response.context["form"].errors == {"first_name": [ONE_LINE]}


def download(client, tmp_path):
    response = client.get("/settings/export.sqlite3", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    path = tmp_path / "download" / "export.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_the_sqlite_export_leaves_out_sessions_and_secrets(acme, client, sign_in, tmp_path):
    sign_in(client, acme)
    client.post(
        "/members/", {"email": "new@acme.example", "role": "member"}, HTTP_HOST=host("acme")
    )
    with tenant_context(acme):
        session_key = Session.objects.get().session_key
        password_hash = User.objects.get(email=admin_email("acme")).password
        token_hash = Invitation.objects.get().token_hash

    exported = download(client, tmp_path)
    db = sqlite3.connect(exported)
    assert db.execute("SELECT count(*) FROM django_session").fetchone() == (0,)
    passwords = [row[0] for row in db.execute("SELECT password FROM accounts_user")]
    assert passwords and all(p.startswith("!") for p in passwords)
    assert db.execute("SELECT email FROM accounts_invitation").fetchall() == [("new@acme.example",)]
    assert db.execute("SELECT token_hash FROM accounts_invitation").fetchone() != (token_hash,)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    raw = exported.read_bytes()
    for secret in (session_key, password_hash, token_hash):
        assert secret.encode() not in raw  # not even in free pages
    assert list(exported.parent.iterdir()) == [exported]  # one self-contained file

    with tenant_context(acme):  # the workspace itself is untouched
        assert Session.objects.filter(session_key=session_key).exists()
        assert User.objects.get(email=admin_email("acme")).check_password(PASSWORD)


def test_the_settings_page_says_what_the_export_holds(acme, client, sign_in):
    sign_in(client, acme)
    page = client.get("/settings/", HTTP_HOST=host("acme")).content.decode()
    assert "no sign-in sessions, no passwords" in page
