"""Members page: copy and resend invitation links, reactivate, confirm before destroying."""

import re

import pytest
from django.core import mail
from django.test import Client

from apps.accounts.models import Invitation, User
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, host


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme")


def _get(client, path):
    return client.get(path, HTTP_HOST=host("acme"))


def _post(client, path, data=None):
    return client.post(path, data or {}, HTTP_HOST=host("acme"))


def _mailed_link() -> str:
    return re.search(r"http://acme\.quire\.test(/invitation/[^/\s]+/)", mail.outbox[-1].body).group(
        1
    )


def test_pending_invitation_link_is_shown_to_copy(client, acme, sign_in):
    sign_in(client, acme)
    _post(client, "/members/", {"email": "new@acme.example", "role": "member"})
    link = _mailed_link()
    _get(client, "/members/")  # the once-only banner is gone after this page
    page = _get(client, "/members/").content.decode()
    assert f'readonly value="http://acme.quire.test{link}"' in page
    assert 'data-copy="invitation-link-' in page and "js/copy.js" in page
    assert _get(Client(), link).status_code == 200


def test_resend_makes_a_new_link_and_the_old_one_stops_working(client, acme, sign_in):
    sign_in(client, acme)
    _post(client, "/members/", {"email": "new@acme.example", "role": "member"})
    old = _mailed_link()
    with tenant_context(acme):
        invitation = Invitation.objects.get(email="new@acme.example")
    sent = len(mail.outbox)
    response = _post(client, f"/invitations/{invitation.pk}/resend/")
    assert response.status_code == 302
    assert len(mail.outbox) == sent + 1 and mail.outbox[-1].to == ["new@acme.example"]
    new = _mailed_link()
    assert new != old
    assert _get(Client(), old).status_code == 400
    assert _get(Client(), new).status_code == 200
    assert f"http://acme.quire.test{new}" in _get(client, "/members/").content.decode()


def test_resend_refuses_an_invitation_no_longer_pending(client, acme, sign_in):
    sign_in(client, acme)
    _post(client, "/members/", {"email": "new@acme.example", "role": "member"})
    with tenant_context(acme):
        invitation = Invitation.objects.get(email="new@acme.example")
    _post(client, f"/invitations/{invitation.pk}/revoke/")
    sent = len(mail.outbox)
    response = client.post(
        f"/invitations/{invitation.pk}/resend/", HTTP_HOST=host("acme"), follow=True
    )
    assert b"no longer pending" in response.content
    assert len(mail.outbox) == sent
    assert _post(client, "/invitations/9999/resend/").status_code == 404


def test_members_cannot_resend_or_reactivate(client, acme, make_member, sign_in):
    make_member(acme, "bob@acme.example")
    sign_in(client, acme, "bob@acme.example")
    assert _post(client, "/invitations/1/resend/").status_code == 403
    assert _post(client, "/members/1/reactivate/").status_code == 403


def test_deactivate_asks_first_then_reactivate(client, acme, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme)
    members = _get(client, "/members/").content.decode()
    assert f'href="/members/{bob.pk}/deactivate/"' in members
    confirm = _get(client, f"/members/{bob.pk}/deactivate/")
    assert confirm.status_code == 200
    assert b"Deactivate bob@acme.example?" in confirm.content
    assert b'<form method="post"' in confirm.content
    with tenant_context(acme):
        assert User.objects.get(pk=bob.pk).is_active  # asking changes nothing
    _post(client, f"/members/{bob.pk}/deactivate/")
    with tenant_context(acme):
        assert not User.objects.get(pk=bob.pk).is_active
    assert f"/members/{bob.pk}/reactivate/" in _get(client, "/members/").content.decode()
    assert _get(client, f"/members/{bob.pk}/reactivate/").status_code == 405
    _post(client, f"/members/{bob.pk}/reactivate/")
    with tenant_context(acme):
        assert User.objects.get(pk=bob.pk).is_active
    guest = Client()
    signed_in = guest.post(
        "/login/",
        {"username": "bob@acme.example", "password": PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert signed_in.status_code == 302  # signed in again


def test_revoke_asks_first(client, acme, sign_in):
    sign_in(client, acme)
    _post(client, "/members/", {"email": "new@acme.example", "role": "member"})
    with tenant_context(acme):
        invitation = Invitation.objects.get(email="new@acme.example")
    confirm = _get(client, f"/invitations/{invitation.pk}/revoke/")
    assert (
        confirm.status_code == 200
        and b"Revoke the invitation for new@acme.example?" in confirm.content
    )
    with tenant_context(acme):
        assert Invitation.objects.get(pk=invitation.pk).revoked_at is None
    _post(client, f"/invitations/{invitation.pk}/revoke/")
    with tenant_context(acme):
        assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None


def test_admin_site_cannot_grant_admin_access_without_the_role(client, acme, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme)
    path = f"/admin/accounts/user/{bob.pk}/change/"
    form = _get(client, path)
    assert form.status_code == 200
    assert b'name="is_staff"' not in form.content
    assert b'name="is_superuser"' not in form.content
    assert b'name="role"' not in form.content
    data = {
        "email": "bob@acme.example",
        "first_name": "Bob",
        "last_name": "",
        "is_staff": "on",
        "is_superuser": "on",
        "role": "admin",
    }
    response = _post(client, path, data)
    assert response.status_code == 302, response.content[:2000]
    with tenant_context(acme):
        bob = User.objects.get(pk=bob.pk)
        assert bob.first_name == "Bob"  # the save went through
        assert bob.role == "member" and not bob.is_staff and not bob.is_superuser
    # The role changed in the app brings the admin flags with it.
    _post(client, f"/members/{bob.pk}/role/", {"role": "admin"})
    with tenant_context(acme):
        bob = User.objects.get(pk=bob.pk)
        assert bob.is_staff and bob.is_superuser
