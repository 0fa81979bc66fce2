import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Invitation, User
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, admin_email, host

NEW_PASSWORD = "another-Strong-pass-7"


def invite(client, email="new@acme.example", role="member"):
    return client.post("/members/", {"email": email, "role": role}, HTTP_HOST=host("acme"))


def invitation_path() -> str:
    return re.search(r"http://acme\.quire\.test(/invitation/[^/]+/)", mail.outbox[-1].body).group(1)


def accept(client, path, **changes):
    data = {"first_name": "Nora", "last_name": "New", "password1": NEW_PASSWORD}
    data.update(changes)
    data.setdefault("password2", data["password1"])
    return client.post(path, data, HTTP_HOST=host("acme"))


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme")


def test_admin_invites_and_the_invitee_joins_signed_in(client, acme, sign_in):
    sign_in(client, acme)
    response = invite(client)
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["new@acme.example"]
    assert "invited you to Acme" in mail.outbox[-1].subject
    path = invitation_path()

    guest = Client()
    form = guest.get(path, HTTP_HOST=host("acme"))
    assert b"You were invited as <strong>new@acme.example</strong>" in form.content
    joined = accept(guest, path)
    assert joined.status_code == 302 and joined.url == "/"
    home = guest.get("/", HTTP_HOST=host("acme"))
    assert b"Nora New</a>" in home.content  # signed in, named in the navigation
    assert b"Members" not in home.content  # no admin controls for a member
    assert guest.get("/members/", HTTP_HOST=host("acme")).status_code == 403
    with tenant_context(acme):
        nora = User.objects.get(email="new@acme.example")
        assert nora.role == "member" and nora.first_name == "Nora" and not nora.is_staff

    used = accept(Client(), path)
    assert used.status_code == 400 and b"already been used" in used.content


def test_invitation_form_validates_passwords(client, acme, sign_in):
    sign_in(client, acme)
    invite(client)
    path = invitation_path()
    mismatch = accept(Client(), path, password2="something-else-9")
    assert mismatch.context["form"].errors == {"password2": ["The two passwords differ."]}
    weak = accept(Client(), path, password1="123")
    assert "too short" in " ".join(weak.context["form"].errors["password1"])


def test_expired_revoked_and_unknown_links(client, acme, sign_in):
    sign_in(client, acme)
    invite(client, "late@acme.example")
    late = invitation_path()
    invite(client, "gone@acme.example")
    gone = invitation_path()
    with tenant_context(acme):
        Invitation.objects.filter(email="late@acme.example").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        revoke = Invitation.objects.get(email="gone@acme.example")
    client.post(f"/invitations/{revoke.pk}/revoke/", HTTP_HOST=host("acme"))
    assert b"has expired" in Client().get(late, HTTP_HOST=host("acme")).content
    assert b"withdrawn" in Client().get(gone, HTTP_HOST=host("acme")).content
    unknown = Client().get("/invitation/not-a-token/", HTTP_HOST=host("acme"))
    assert unknown.status_code == 400 and b"not valid" in unknown.content


def test_invitation_links_expire_after_seven_days(client, acme, sign_in):
    sign_in(client, acme)
    invite(client)
    with tenant_context(acme):
        invitation = Invitation.objects.get()
    assert (
        timedelta(days=6, hours=23)
        < invitation.expires_at - invitation.created_at
        <= timedelta(days=7)
    )


def test_cannot_invite_a_member_or_twice(client, acme, sign_in):
    sign_in(client, acme)
    response = invite(client, admin_email("acme"))
    assert "is already a member" in response.context["form"].errors["email"][0]
    invite(client, "x@acme.example")
    again = invite(client, "x@acme.example")
    assert "already has a pending invitation" in again.context["form"].errors["email"][0]


def test_roles_and_the_last_admin(client, acme, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme)
    client.post(f"/members/{bob.pk}/role/", {"role": "admin"}, HTTP_HOST=host("acme"))
    with tenant_context(acme):
        bob.refresh_from_db()
        assert bob.is_workspace_admin and bob.is_staff
        admin = User.objects.get(email=admin_email("acme"))
    client.post(f"/members/{admin.pk}/role/", {"role": "member"}, HTTP_HOST=host("acme"))
    sign_in(client, acme, "bob@acme.example")
    response = client.post(
        f"/members/{bob.pk}/role/", {"role": "member"}, HTTP_HOST=host("acme"), follow=True
    )
    assert b"is the last admin and cannot be demoted" in response.content
    response = client.post(f"/members/{bob.pk}/deactivate/", HTTP_HOST=host("acme"), follow=True)
    assert b"is the last admin and cannot be deactivated" in response.content
    with tenant_context(acme):
        bob.refresh_from_db()
        assert bob.is_workspace_admin and bob.is_active


def test_deactivated_member_is_signed_out_everywhere(client, acme, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    bobs_browser = Client()
    sign_in(bobs_browser, acme, "bob@acme.example")
    assert bobs_browser.get("/", HTTP_HOST=host("acme")).status_code == 200
    sign_in(client, acme)
    client.post(f"/members/{bob.pk}/deactivate/", HTTP_HOST=host("acme"))
    assert bobs_browser.get("/", HTTP_HOST=host("acme")).status_code == 302
    with tenant_context(acme):
        sessions = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert str(bob.pk) not in sessions
    login = bobs_browser.post(
        "/login/", {"username": "bob@acme.example", "password": PASSWORD}, HTTP_HOST=host("acme")
    )
    assert login.status_code == 200  # refused: the form shows again


def test_members_page_is_for_admins_only(client, acme, make_member, sign_in):
    make_member(acme, "bob@acme.example")
    sign_in(client, acme, "bob@acme.example")
    response = client.get("/members/", HTTP_HOST=host("acme"))
    assert response.status_code == 403 and b"Not allowed" in response.content


def test_password_change(client, acme, sign_in):
    sign_in(client, acme)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    with tenant_context(acme):
        assert User.objects.get(email=admin_email("acme")).check_password(NEW_PASSWORD)


def test_password_reset_by_email_on_the_workspace(acme, make_tenant):
    make_tenant("beta")
    client = Client()
    client.post("/password-reset/", {"email": admin_email("acme")}, HTTP_HOST=host("acme"))
    assert len(mail.outbox) == 1
    link = re.search(r"http://acme\.quire\.test(/reset/\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, HTTP_HOST=host("acme"), follow=True)
    assert b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert done.status_code == 302
    with tenant_context(acme):
        assert User.objects.get(email=admin_email("acme")).check_password(NEW_PASSWORD)
    # The same address on another workspace gets nothing: accounts are per workspace.
    client.post("/password-reset/", {"email": admin_email("acme")}, HTTP_HOST=host("beta"))
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_an_invitation_is_saved_and_its_link_shown_whatever_the_mail_server_does(
    client, make_tenant, sign_in, settings
):
    from apps.accounts.models import Invitation
    from apps.tenancy.routing.context import tenant_context

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    tenant = make_tenant("acme")
    sign_in(client, tenant)
    form = {"email": "new@acme.example", "role": "member"}
    response = client.post("/members/", form, HTTP_HOST=host("acme"), follow=True)
    assert b"the e-mail to new@acme.example is on its way" in response.content
    link = re.search(rb'id="invite-link" type="text" readonly value="([^"]+)"', response.content)
    assert link is not None, "the members page shows the invitation link"
    path = re.search(r"http://acme\.quire\.test(/invitation/[^/]+/)", link.group(1).decode())
    assert Client().get(path.group(1), HTTP_HOST=host("acme")).status_code == 200
    with tenant_context(tenant):
        assert Invitation.objects.get().email == "new@acme.example"
    again = client.get("/members/", HTTP_HOST=host("acme"))
    assert b'id="invite-link"' not in again.content, "the link is shown once"
