"""The posts list: comment counts, "new since your last visit" per member."""

from datetime import timedelta

import pytest
from django.core import signing
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import comment_create, post_create
from apps.posts.visits import COOKIE_NAME, SALT
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host


@pytest.fixture
def admin(acme):
    with tenant_context(acme):
        return User.objects.get(email=admin_email("acme"))


def listing(client) -> str:
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    return response.content.decode()


def seen(client, member_id: int, *, since, last) -> None:
    """Give the browser a cookie as if its member last saw the list at ``last``."""
    since_text = "" if since is None else repr(since.timestamp())
    value = f"{member_id}|{since_text}|{last.timestamp()!r}"
    client.cookies[COOKIE_NAME] = signing.get_cookie_signer(salt=COOKIE_NAME + SALT).sign(value)


def test_each_post_shows_its_comment_count(client, acme, admin, sign_in):
    with tenant_context(acme):
        quiet = post_create(author=admin, title="Quiet", body="x")
        busy = post_create(author=admin, title="Busy", body="x")
        comment_create(post=busy, author=admin, body="one")
        comment_create(post=busy, author=admin, body="two")
        single = post_create(author=admin, title="Single", body="x", tags=["ops", "dev"])
        comment_create(post=single, author=admin, body="one")
    sign_in(client, acme)
    text = listing(client)
    assert f'href="/posts/{busy.pk}/#comments">2 comments</a>' in text
    assert f'href="/posts/{quiet.pk}/#comments">0 comments</a>' in text
    assert f'href="/posts/{single.pk}/#comments">1 comment</a>' in text
    tagged = client.get("/?tag=ops", HTTP_HOST=host("acme")).content.decode()
    assert f'href="/posts/{single.pk}/#comments">1 comment</a>' in tagged  # not one per tag
    with tenant_context(acme):
        comment_create(post=quiet, author=admin, body="now")
    assert f'href="/posts/{quiet.pk}/#comments">1 comment</a>' in listing(client)


def test_new_since_the_last_visit(client, acme, admin, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme)
    assert "since your last visit" not in listing(client)  # a first visit: nothing is "new"
    with tenant_context(acme):
        post_create(author=bob, title="Bob's news", body="x")
        post_create(author=admin, title="My own", body="x")
    # Within the same visit nothing moves on.
    assert "since your last visit" not in listing(client)
    # An hour later: a new visit; what came after the previous one ended is new.
    now = timezone.now()
    seen(client, admin.pk, since=None, last=now - timedelta(hours=1))
    with tenant_context(acme):
        Post.objects.update(created_at=now - timedelta(minutes=10))
    text = listing(client)
    assert "1 new post since your last visit" in text
    assert "Bob&#x27;s news" in text.split("since your last visit")[1].split("</section>")[0]
    assert "My own" not in text.split("since your last visit")[1].split("</section>")[0]
    # Reading the list again in the same visit keeps the banner.
    assert "1 new post since your last visit" in listing(client)


def test_the_cookie_belongs_to_one_member_and_cannot_be_forged(
    client, acme, admin, make_member, sign_in
):
    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        post_create(author=bob, title="Bob's news", body="x")
    sign_in(client, acme)
    long_ago = timezone.now() - timedelta(days=3)
    seen(client, bob.pk, since=long_ago, last=long_ago)  # another member's marks
    assert "since your last visit" not in listing(client)
    client.cookies[COOKIE_NAME] = f"{admin.pk}|{long_ago.timestamp()}|{long_ago.timestamp()}"
    assert "since your last visit" not in listing(client)  # unsigned: ignored
    client.cookies[COOKIE_NAME] = "garbage"
    assert listing(client)


def test_the_banner_is_per_reader_and_the_list_part_is_shared(acme, admin, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        post_create(author=bob, title="Bob's news", body="x")
    returning, fresh = Client(), Client()
    sign_in(returning, acme)
    sign_in(fresh, acme)
    long_ago = timezone.now() - timedelta(days=3)
    seen(returning, admin.pk, since=None, last=long_ago)
    assert "1 new post since your last visit" in listing(returning)
    stored = len(caches["pages"]._cache)  # type: ignore[attr-defined]
    assert "since your last visit" not in listing(fresh)
    assert len(caches["pages"]._cache) == stored  # type: ignore[attr-defined]


def test_admins_pin_posts_to_the_top(client, acme, admin, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        old = post_create(author=bob, title="Old rules", body="x")
        Post.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=9))
        post_create(author=bob, title="Fresh news", body="x")
    sign_in(client, acme)
    text = listing(client)
    assert text.index("Fresh news") < text.index("Old rules")
    detail = client.get(f"/posts/{old.pk}/", HTTP_HOST=host("acme")).content.decode()
    assert "Pin to the top" in detail
    pinned = client.post(f"/posts/{old.pk}/pin/", {"pinned": "1"}, HTTP_HOST=host("acme"))
    assert pinned.status_code == 302 and pinned.url == f"/posts/{old.pk}/"
    text = listing(client)
    assert text.index(">Old rules</a>") < text.index(">Fresh news</a>")
    assert text.count(">Old rules</a>") == 1  # above the list, not also in it
    assert "Pinned</span>" in text
    assert "Unpin" in client.get(f"/posts/{old.pk}/", HTTP_HOST=host("acme")).content.decode()
    unpinned = client.post(
        f"/posts/{old.pk}/pin/", {"pinned": "0", "next": "list"}, HTTP_HOST=host("acme")
    )
    assert unpinned.url == "/"
    text = listing(client)
    assert text.index(">Fresh news</a>") < text.index(">Old rules</a>")
    assert "Pinned</span>" not in text


def test_members_cannot_pin(client, acme, admin, make_member, sign_in):
    make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        post = post_create(author=admin, title="T", body="x")
    sign_in(client, acme, "bob@acme.example")
    assert (
        "Pin to the top"
        not in client.get(f"/posts/{post.pk}/", HTTP_HOST=host("acme")).content.decode()
    )
    assert (
        client.post(f"/posts/{post.pk}/pin/", {"pinned": "1"}, HTTP_HOST=host("acme")).status_code
        == 403
    )
    assert client.get(f"/posts/{post.pk}/pin/", HTTP_HOST=host("acme")).status_code == 405
    assert (
        client.post("/posts/999/pin/", {"pinned": "1"}, HTTP_HOST=host("acme")).status_code == 404
    )
    with tenant_context(acme):
        assert Post.objects.get(pk=post.pk).pinned_at is None


def test_pinned_posts_show_only_on_the_first_page(client, acme, admin, sign_in):
    with tenant_context(acme):
        pinned = post_create(author=admin, title="Pinned one", body="x")
        Post.objects.filter(pk=pinned.pk).update(pinned_at=timezone.now())
        for number in range(25):
            post_create(author=admin, title=f"Post {number}", body="x")
    sign_in(client, acme)
    assert "Pinned one" in listing(client)
    second = client.get("/?page=2", HTTP_HOST=host("acme")).content.decode()
    assert "Pinned one" not in second and "Post 0" in second
