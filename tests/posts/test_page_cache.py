"""Cached page parts: never stale after a write, never another viewer's or workspace's."""

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import caches
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Comment, Post
from apps.posts.pagecache import CSRF_PLACEHOLDER
from apps.posts.services import comment_create, post_create
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def page(client, path, slug="acme"):
    response = client.get(path, HTTP_HOST=host(slug))
    assert response.status_code == 200
    text = response.content.decode()
    assert str(CSRF_PLACEHOLDER) not in text
    return text


def cached_parts() -> int:
    return len(caches["pages"]._cache)  # type: ignore[attr-defined]


@pytest.fixture
def admin(acme):
    with tenant_context(acme):
        return User.objects.get(email=admin_email("acme"))


def test_a_read_is_served_from_the_cache_until_a_write(client, acme, admin, sign_in):
    with tenant_context(acme):
        post_create(author=admin, title="First", body="x")
    sign_in(client, acme)
    assert "First" in page(client, "/")
    stored = cached_parts()
    with tenant_context(acme):  # behind the cache's back: the title changes, no write path
        Post.objects.update(title="Renamed")  # a write all the same: the position moves
    assert "Renamed" in page(client, "/")
    assert cached_parts() > stored


@pytest.mark.parametrize(
    ("write", "path", "seen"),
    [
        ("post", "/", "Fresh news"),
        ("edit", "/", "Edited title"),
        ("edit", "/posts/{pk}/", "Edited body"),
        ("tag", "/", "#later"),
        ("tag", "/?tag=later", "Old news"),
        ("comment", "/posts/{pk}/", "A new comment"),
        ("post", "/search/?q=fresh", "<mark>Fresh</mark> news"),
        ("edit", "/search/?q=edited", "<mark>Edited</mark> title"),
    ],
)
def test_the_writer_sees_their_write_at_once(client, acme, admin, sign_in, write, path, seen):
    with tenant_context(acme):
        post = post_create(author=admin, title="Old news", body="Old body", tags=["now"])
    sign_in(client, acme)
    path = path.format(pk=post.pk)
    assert seen not in page(client, path)
    page(client, path)  # served from the cache
    edit = {"title": "Edited title", "body": "Edited body", "tags": "now"}
    forms = {
        "post": ("/posts/new/", {"title": "Fresh news", "body": "b", "tags": ""}),
        "edit": (f"/posts/{post.pk}/edit/", edit),
        "tag": (f"/posts/{post.pk}/edit/", {**edit, "title": "Old news", "tags": "now, later"}),
        "comment": (f"/posts/{post.pk}/", {"body": "A new comment"}),
    }
    url, data = forms[write]
    assert client.post(url, data, HTTP_HOST=host("acme")).status_code == 302
    assert seen in page(client, path)


def test_deleted_posts_and_comments_are_gone_at_once(client, acme, admin, sign_in):
    with tenant_context(acme):
        post = post_create(author=admin, title="Doomed", body="x")
        keep = post_create(author=admin, title="Kept", body="x")
        comment = comment_create(post=keep, author=admin, body="Doomed comment")
    sign_in(client, acme)
    assert "Doomed</a>" in page(client, "/")
    assert "<p>Doomed comment</p>" in page(client, f"/posts/{keep.pk}/")
    assert page(client, f"/posts/{post.pk}/")
    client.post(f"/posts/{post.pk}/delete/", HTTP_HOST=host("acme"))
    client.post(f"/comments/{comment.pk}/delete/", HTTP_HOST=host("acme"))
    assert "Doomed</a>" not in page(client, "/")  # (a message still names it)
    assert "<p>Doomed comment</p>" not in page(client, f"/posts/{keep.pk}/")
    assert client.get(f"/posts/{post.pk}/", HTTP_HOST=host("acme")).status_code == 404


def test_a_write_in_another_process_is_seen(client, acme, admin, sign_in):
    """Another worker's write (here: straight to the file) advances the position too."""
    import sqlite3

    from apps.tenancy.routing.databases import database_path

    with tenant_context(acme):
        post = post_create(author=admin, title="Before", body="x")
    sign_in(client, acme)
    assert "Before" in page(client, "/")
    other = sqlite3.connect(database_path("acme"))
    other.execute("UPDATE posts_post SET title = 'After' WHERE id = ?", [post.pk])
    other.execute("UPDATE quire_commit_position SET position = position + 1 WHERE id = 1")
    other.commit()
    other.close()
    assert "After" in page(client, "/")


def test_edit_links_follow_the_viewer_not_the_cache(acme, admin, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        post = post_create(author=admin, title="Admin's post", body="x")
        comment_create(post=post, author=admin, body="Admin's comment")
        comment_create(post=post, author=bob, body="Bob's comment")
    admin_client, bob_client = Client(), Client()
    sign_in(admin_client, acme)
    sign_in(bob_client, acme, "bob@acme.example")
    path = f"/posts/{post.pk}/"
    seen_by_admin = page(admin_client, path)
    assert f"/posts/{post.pk}/edit/" in seen_by_admin
    assert seen_by_admin.count("Delete comment") == 2
    seen_by_bob = page(bob_client, path)
    assert f"/posts/{post.pk}/edit/" not in seen_by_bob
    assert seen_by_bob.count("Delete comment") == 1  # his own only

    def signed_in_as(html: str) -> str:
        return re.search(r'title="Your account">.*?</span>([^<]*)</a>', html).group(1)

    assert signed_in_as(seen_by_admin) == "admin"  # the part of the e-mail before the @
    assert signed_in_as(seen_by_bob) == "bob"


def test_a_cached_form_carries_the_viewers_own_csrf_token(acme, admin, make_member, sign_in):
    """The admin in two browsers shares the cached members table; each browser can change
    a role with the token on its own page, and only with that one."""
    bob = make_member(acme, "bob@acme.example")
    first_client = Client(enforce_csrf_checks=True)
    second_client = Client(enforce_csrf_checks=True)
    sign_in(first_client, acme)
    sign_in(second_client, acme)
    page(first_client, "/members/")  # renders and stores the members table
    stored = cached_parts()
    second_page = page(second_client, "/members/")
    assert cached_parts() == stored  # the second browser was served the stored part
    table = second_page.split("<table")[1].split("</table>")[0]
    tokens = CSRF_FIELD.findall(table)
    assert len(tokens) == 2  # a role form on each of the two rows (cached)
    secret = second_client.cookies["csrftoken"].value
    assert {_unmask_cipher_token(token) for token in CSRF_FIELD.findall(second_page)} == {secret}
    token = tokens[0]
    refused = first_client.post(
        f"/members/{bob.pk}/role/",
        {"csrfmiddlewaretoken": token, "role": "admin"},
        HTTP_HOST=host("acme"),
    )
    assert refused.status_code == 403
    done = second_client.post(
        f"/members/{bob.pk}/role/",
        {"csrfmiddlewaretoken": token, "role": "admin"},
        HTTP_HOST=host("acme"),
    )
    assert done.status_code == 302
    with tenant_context(acme):
        assert User.objects.get(pk=bob.pk).role == "admin"


def test_comment_delete_links_in_the_cached_part_lead_to_a_confirmation(
    acme, admin, make_member, sign_in
):
    with tenant_context(acme):
        post = post_create(author=admin, title="T", body="x")
        comment = comment_create(post=post, author=admin, body="one")
    client = Client(enforce_csrf_checks=True)
    sign_in(client, acme)
    text = page(client, f"/posts/{post.pk}/")
    assert f'href="/comments/{comment.pk}/delete/"' in text
    confirm = page(client, f"/comments/{comment.pk}/delete/")
    assert "Delete this comment?" in confirm
    token = CSRF_FIELD.findall(confirm)[-1]
    done = client.post(
        f"/comments/{comment.pk}/delete/", {"csrfmiddlewaretoken": token}, HTTP_HOST=host("acme")
    )
    assert done.status_code == 302
    with tenant_context(acme):
        assert not Comment.objects.exists()


def test_members_table_hides_deactivate_on_each_admins_own_row(acme, make_member, sign_in):
    make_member(acme, "eve@acme.example", role="admin")
    admin_client, eve_client = Client(), Client()
    sign_in(admin_client, acme)
    sign_in(eve_client, acme, "eve@acme.example")
    for client, me, other in (
        (admin_client, admin_email("acme"), "eve@acme.example"),
        (eve_client, "eve@acme.example", admin_email("acme")),
    ):
        text = page(client, "/members/")
        rows = {
            email: row for row in text.split("<tr>")[2:] for email in [me, other] if email in row
        }
        assert "Deactivate" not in rows[me] and "Deactivate" in rows[other]


def test_role_change_shows_at_once(client, acme, make_member, sign_in):
    bob = make_member(acme, "bob@acme.example")
    sign_in(client, acme)

    def bobs_role() -> str:
        table = page(client, "/members/").split("</table>")[0]
        return re.findall(r'<option value="(\w+)" selected>', table.split("bob@acme.example")[-1])[
            0
        ]

    assert bobs_role() == "member"
    client.post(f"/members/{bob.pk}/role/", {"role": "admin"}, HTTP_HOST=host("acme"))
    assert bobs_role() == "admin"


def test_workspaces_with_the_same_post_ids_never_share_parts(make_tenant, sign_in):
    """acme and bravo each have post 1 and the same commit positions; each sees its own."""
    tenants = {slug: make_tenant(slug) for slug in ("acme", "bravo")}
    clients = {}
    for slug, tenant in tenants.items():
        with tenant_context(tenant):
            author = User.objects.get(email=admin_email(slug))
            post = post_create(author=author, title=f"Secret of {slug}", body=f"Body of {slug}")
            comment_create(post=post, author=author, body=f"Comment in {slug}")
        clients[slug] = Client()
        sign_in(clients[slug], tenant)
    for tenant in tenants.values():
        with tenant_context(tenant):
            assert list(Post.objects.values_list("pk", flat=True)) == [1]
    for path in ("/", "/posts/1/", "/search/?q=secret", "/members/"):
        for slug, other in (("acme", "bravo"), ("bravo", "acme")):
            text = page(clients[slug], path, slug)
            assert slug in text and other not in text


def test_unknown_posts_are_404_and_odd_parameters_are_harmless(client, acme, admin, sign_in):
    sign_in(client, acme)
    assert client.get("/posts/999/", HTTP_HOST=host("acme")).status_code == 404
    assert client.get("/posts/999/", HTTP_HOST=host("acme")).status_code == 404  # cached miss
    for query in ("author=99999999999999999999999999", "page=-1", "page=x", "tag=%00"):
        assert client.get(f"/?{query}", HTTP_HOST=host("acme")).status_code == 200


@pytest.mark.parametrize("moment", [datetime(2026, 1, 5, 7, 3, 9, 120, tzinfo=UTC), None])
def test_list_date_filters_write_what_djangos_date_filter_writes(moment):
    from django.template.defaultfilters import date as django_date

    from apps.posts.templatetags.quire_dates import iso, stamp

    assert iso(moment) == django_date(moment, "c")
    assert stamp(moment) == django_date(moment, "j M Y, H:i")
