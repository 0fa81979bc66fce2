"""People: the account page, names, pictures, time zones, the directory, e-mail changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.routing.context import tenant_context
from tests.conftest import PASSWORD, admin_email, host

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def profile(**changes: object) -> dict[str, object]:
    data = {
        "form": "profile",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "time_zone": "",
        "notify_posts": "off",
        "notify_comments": "on",
        "notify_mentions": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def acme(make_tenant):
    return make_tenant("acme")


@pytest.fixture
def admin(client: Client, acme, sign_in) -> Client:
    sign_in(client, acme)
    return client


def member(acme, email: str | None = None) -> User:
    with tenant_context(acme):
        return User.objects.get(email=email or admin_email("acme"))


def test_the_account_page_saves_name_time_zone_and_notifications(admin, acme):
    page = admin.get("/account/", HTTP_HOST=host("acme"))
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("First name", "Time zone", "E-mail me about new posts", "New e-mail address"):
        assert f">{label}" in html or f"{label}:" in html, label
    response = admin.post(
        "/account/",
        profile(time_zone="Asia/Tokyo", notify_posts="each", notify_comments=None),
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    saved = member(acme)
    assert (saved.first_name, saved.last_name, saved.time_zone) == ("Ada", "Lovelace", "Asia/Tokyo")
    assert (saved.notify_posts, saved.notify_comments, saved.notify_mentions) == (
        "each",
        False,
        True,
    )
    # The name replaces the e-mail address in the navigation.
    nav = admin.get("/", HTTP_HOST=host("acme")).content.decode()
    assert "Ada Lovelace</a>" in nav
    assert admin_email("acme") not in nav


def test_bad_account_input_is_refused_and_announced(admin, acme):
    response = admin.post(
        "/account/",
        profile(first_name="", time_zone="Mars/Olympus", notify_posts="hourly"),
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    for name in ("first_name", "time_zone", "notify_posts"):
        assert re.search(rf'<[^>]*name="{name}"[^>]*aria-invalid="true"', html), name
    assert "Select a valid choice. Mars/Olympus is not one of the available choices." in html
    assert member(acme).first_name == ""


def test_reader_sees_times_in_their_own_zone_from_the_same_cached_page(acme, make_member, sign_in):
    make_member(acme, "tokyo@acme.example")
    with tenant_context(acme):
        author = User.objects.get(email=admin_email("acme"))
        post = post_create(author=author, title="Launch", body="Today.")
        moment = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)
        type(post).objects.filter(pk=post.pk).update(created_at=moment)
        User.objects.filter(email="tokyo@acme.example").update(time_zone="Asia/Tokyo")
    utc_reader, tokyo_reader = Client(), Client()
    sign_in(utc_reader, acme)
    sign_in(tokyo_reader, acme, "tokyo@acme.example")
    for path in ("/", f"/posts/{post.pk}/"):
        first = utc_reader.get(path, HTTP_HOST=host("acme")).content.decode()
        second = tokyo_reader.get(path, HTTP_HOST=host("acme")).content.decode()
        again = utc_reader.get(path, HTTP_HOST=host("acme")).content.decode()
        assert "30 Nov 2026, 12:05" in first, path
        assert "30 Nov 2026, 21:05" in second, path  # UTC+9, though the part was cached
        assert "2026-11-30T21:05:00+09:00" in second, path
        assert "30 Nov 2026, 12:05" in again and "21:05" not in again, path


def test_the_directory_lists_active_members_with_initials_and_links(admin, acme, make_member):
    nora = make_member(acme, "nora@acme.example")
    gone = make_member(acme, "gone@acme.example")
    with tenant_context(acme):
        User.objects.filter(pk=nora.pk).update(first_name="Nora", last_name="Jones")
        User.objects.filter(pk=gone.pk).update(is_active=False)
    html = admin.get("/people/", HTTP_HOST=host("acme")).content.decode()
    assert "Nora Jones" in html
    assert ">NJ</span>" in html
    assert f'href="/people/{nora.pk}/"' in html
    assert "gone@acme.example" not in html
    with tenant_context(acme):
        User.objects.filter(pk=nora.pk).update(time_zone="Asia/Kolkata")
    page = admin.get(f"/people/{nora.pk}/", HTTP_HOST=host("acme"))
    assert page.status_code == 200
    kolkata = timezone.localtime(timezone.now(), ZoneInfo("Asia/Kolkata"))  # UTC+5:30
    shown = re.search(r"Local time: (\d\d:\d\d) \(Asia/Kolkata\)", page.content.decode())
    assert shown, "her zone is named"
    assert shown.group(1) in {f"{kolkata:%H:%M}", f"{kolkata + timedelta(minutes=1):%H:%M}"}
    assert admin.get("/people/999/", HTTP_HOST=host("acme")).status_code == 404
    assert Client().get("/people/", HTTP_HOST=host("acme")).status_code == 302


def test_a_picture_is_checked_stored_in_the_workspace_and_served_to_members_only(
    admin, acme, make_tenant, sign_in, settings
):
    response = admin.post(
        "/account/",
        {"form": "avatar", "picture": SimpleUploadedFile("me.png", PNG, "image/png")},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = member(acme)
    assert saved.avatar.name.startswith("avatars/member-")
    stored = settings.MEDIA_ROOT / "acme" / saved.avatar.name
    assert stored.read_bytes() == PNG
    image = admin.get(f"/people/{saved.pk}/avatar/", HTTP_HOST=host("acme"))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == PNG
    html = admin.get("/people/", HTTP_HOST=host("acme")).content.decode()
    assert re.search(rf'<img class="avatar" src="/people/{saved.pk}/avatar/\?v=\w+" alt="">', html)
    # Not to visitors, nor to members of another workspace.
    assert Client().get(f"/people/{saved.pk}/avatar/", HTTP_HOST=host("acme")).status_code == 302
    beta = make_tenant("beta")
    other = Client()
    sign_in(other, beta)
    assert other.get(f"/people/{saved.pk}/avatar/", HTTP_HOST=host("beta")).status_code == 404
    # A file that is not a picture, whatever its name, is refused.
    fake = SimpleUploadedFile("me.png", b"<svg onload=alert(1)>", "image/png")
    refused = admin.post("/account/", {"form": "avatar", "picture": fake}, HTTP_HOST=host("acme"))
    assert refused.status_code == 400
    assert "must be a PNG, JPEG, GIF or WebP image" in refused.content.decode()
    removed = admin.post("/account/", {"form": "avatar", "remove": "on"}, HTTP_HOST=host("acme"))
    assert removed.status_code == 302
    assert member(acme).avatar.name == ""


def test_an_email_change_waits_for_the_link_sent_to_the_new_address(admin, acme):
    wrong = admin.post(
        "/account/",
        {"form": "email", "new_email": "ada@new.example", "password": "nope"},
        HTTP_HOST=host("acme"),
    )
    assert "That is not your current password." in wrong.content.decode()
    assert not mail.outbox
    response = admin.post(
        "/account/",
        {"form": "email", "new_email": "Ada@New.example", "password": PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    assert member(acme).email == admin_email("acme"), "changed before the link was opened"
    (message,) = mail.outbox
    assert message.to == ["ada@new.example"]
    link = re.search(r"http://acme\.quire\.test(/account/email/\S+/)", message.body).group(1)
    confirmed = Client().get(link, HTTP_HOST=host("acme"))  # works without signing in
    assert confirmed.status_code == 302
    with tenant_context(acme):
        assert User.objects.filter(email="ada@new.example").exists()
    assert mail.outbox[-1].to == [admin_email("acme")], "the old address is told"
    again = Client().get(link, HTTP_HOST=host("acme"))
    assert again.status_code == 400
    assert "already used" in again.content.decode()
    forged = Client().get(link[:-3] + "xx/", HTTP_HOST=host("acme"))
    assert forged.status_code == 400


def test_an_email_change_link_does_nothing_in_another_workspace(admin, acme, make_tenant):
    make_tenant("beta")
    admin.post(
        "/account/",
        {"form": "email", "new_email": "ada@new.example", "password": PASSWORD},
        HTTP_HOST=host("acme"),
    )
    link = re.search(r"(/account/email/\S+/)", mail.outbox[-1].body).group(1)
    assert Client().get(link, HTTP_HOST=host("beta")).status_code == 400


def test_an_address_already_in_the_workspace_is_refused(admin, acme, make_member):
    make_member(acme, "taken@acme.example")
    response = admin.post(
        "/account/",
        {"form": "email", "new_email": "taken@acme.example", "password": PASSWORD},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 400
    assert "already used by a member" in response.content.decode()
    assert not mail.outbox


def test_sign_up_asks_the_admins_name(db):
    form = {
        "name": "Acme",
        "subdomain": "acme",
        "your_name": "Ada King Lovelace",
        "email": "ada@acme.example",
        "password": "a-Strong-pass-9",
    }
    signup = Client().get("/signup/", HTTP_HOST="quire.test").content.decode()
    assert '<label for="id_your_name">Your name:</label>' in signup
    response = Client().post("/signup/", form, HTTP_HOST="quire.test")
    assert response.status_code == 302
    from apps.tenancy.fleet.selectors import tenant_get

    with tenant_context(tenant_get(slug="acme")):
        admin = User.objects.get(email="ada@acme.example")
    assert (admin.first_name, admin.last_name, admin.initials) == ("Ada", "King Lovelace", "AL")


def test_email_change_links_are_limited_per_recipient(admin, acme, settings):
    settings.QUIRE_MAIL_PER_RECIPIENT = 1
    form = {"form": "email", "new_email": "limit@new.example", "password": PASSWORD}
    assert admin.post("/account/", form, HTTP_HOST=host("acme")).status_code == 302
    again = admin.post("/account/", form, HTTP_HOST=host("acme"))
    assert again.status_code == 429
    assert again.has_header("Retry-After")
    assert len(mail.outbox) == 1
