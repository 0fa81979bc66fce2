from html.parser import HTMLParser

import pytest

from apps.accounts.models import User
from apps.posts.markdown import render_markdown
from apps.posts.models import Comment, Post
from apps.posts.services import InvalidTags, parse_tags, post_create
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host


def test_markdown_is_rendered():
    html = render_markdown("# Title\n\n**bold** and [a link](https://example.com)\n\n- one\n- two")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener nofollow">a link</a>' in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="#" onclick="alert(1)">x</a>',
        "[click](javascript:alert(1))",
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_markdown_never_lets_script_through(source):
    elements = parsed_elements(render_markdown(source))
    assert not [tag for tag, _attrs in elements if tag in ("script", "iframe", "img")]
    attributes = [(name, value or "") for _tag, attrs in elements for name, value in attrs]
    assert not [name for name, _value in attributes if name.startswith("on")]
    assert not [value for name, value in attributes if name == "href" and "javascript" in value]


def parsed_elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Return the (tag, attributes) of every element a browser would build from the HTML."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_raw_html_is_shown_as_text():
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render_markdown("<script>alert(1)</script>")


def test_parse_tags():
    assert parse_tags("Planning, #design  planning") == ["planning", "design"]
    assert parse_tags("") == []
    with pytest.raises(InvalidTags, match="bad_tag"):
        parse_tags("ok, bad_tag")


def write(client, data, slug="acme"):
    return client.post("/posts/new/", data, HTTP_HOST=host(slug))


def test_post_with_markdown_and_tags(client, make_tenant, sign_in):
    sign_in(client, make_tenant("acme"))
    response = write(client, {"title": "Plan", "body": "**Bold** move", "tags": "q3, Planning"})
    page = client.get(response.url, HTTP_HOST=host("acme")).content.decode()
    assert "<strong>Bold</strong> move" in page
    assert "#planning" in page and "#q3" in page


def test_invalid_tags_show_beside_the_field(client, make_tenant, sign_in):
    sign_in(client, make_tenant("acme"))
    response = write(client, {"title": "Plan", "body": "x", "tags": "good, no_way"})
    assert response.context["form"].errors == {
        "tags": ["Tags are lower-case letters, digits and hyphens (up to 40): no_way"]
    }


def test_filter_by_tag_and_author(client, make_tenant, make_member, sign_in):
    acme = make_tenant("acme")
    bob = make_member(acme, "bob@acme.example")
    with tenant_context(acme):
        admin = User.objects.get(email=admin_email("acme"))
        post_create(author=admin, title="Admin's plan", body="x", tags=["plans"])
        post_create(author=bob, title="Bob's notes", body="x", tags=["notes"])
    sign_in(client, acme)
    by_tag = client.get("/?tag=plans", HTTP_HOST=host("acme")).context["page"]
    assert [p.title for p in by_tag] == ["Admin's plan"]
    by_author = client.get(f"/?author={bob.pk}", HTTP_HOST=host("acme")).context["page"]
    assert [p.title for p in by_author] == ["Bob's notes"]
    assert client.get("/?author=nope", HTTP_HOST=host("acme")).status_code == 200


def test_list_is_paginated(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    with tenant_context(acme):
        admin = User.objects.get(email=admin_email("acme"))
        for n in range(25):
            post_create(author=admin, title=f"post {n}", body="")
    sign_in(client, acme)
    first = client.get("/", HTTP_HOST=host("acme")).context["page"]
    assert len(first) == 20 and first[0].title == "post 24"
    second = client.get("/?page=2", HTTP_HOST=host("acme")).context["page"]
    assert [p.title for p in second] == [f"post {n}" for n in range(4, -1, -1)]


def test_author_edits_others_cannot_admin_can(client, make_tenant, make_member, sign_in):
    acme = make_tenant("acme")
    bob = make_member(acme, "bob@acme.example")
    make_member(acme, "carol@acme.example")
    with tenant_context(acme):
        post = post_create(author=bob, title="Bob's", body="v1")
    edit = {"title": "Bob's", "body": "v2", "tags": ""}
    sign_in(client, acme, "carol@acme.example")
    assert client.get(f"/posts/{post.pk}/edit/", HTTP_HOST=host("acme")).status_code == 403
    forbidden = client.post(f"/posts/{post.pk}/delete/", HTTP_HOST=host("acme"))
    assert forbidden.status_code == 403 and b"Not allowed" in forbidden.content
    sign_in(client, acme, "bob@acme.example")
    client.post(f"/posts/{post.pk}/edit/", edit, HTTP_HOST=host("acme"))
    with tenant_context(acme):
        post.refresh_from_db()
        assert post.body == "v2" and post.edited_at is not None and "v2" in post.body_html
    sign_in(client, acme)  # the admin
    client.post(f"/posts/{post.pk}/delete/", HTTP_HOST=host("acme"))
    with tenant_context(acme):
        assert not Post.objects.filter(pk=post.pk).exists()


def test_comments_add_and_delete_rules(client, make_tenant, make_member, sign_in):
    acme = make_tenant("acme")
    make_member(acme, "bob@acme.example")
    make_member(acme, "carol@acme.example")
    with tenant_context(acme):
        post = post_create(author=User.objects.get(email=admin_email("acme")), title="T", body="")
    sign_in(client, acme, "bob@acme.example")
    client.post(f"/posts/{post.pk}/", {"body": "Nice _one_"}, HTTP_HOST=host("acme"))
    page = client.get(f"/posts/{post.pk}/", HTTP_HOST=host("acme")).content.decode()
    assert "Nice <em>one</em>" in page and "1 comment" in page
    with tenant_context(acme):
        comment = Comment.objects.get()
    sign_in(client, acme, "carol@acme.example")
    url = f"/comments/{comment.pk}/delete/"
    assert client.post(url, HTTP_HOST=host("acme")).status_code == 403
    sign_in(client, acme, "bob@acme.example")
    assert client.post(url, HTTP_HOST=host("acme")).status_code == 302
    with tenant_context(acme):
        assert not Comment.objects.exists()
    assert client.post(url, HTTP_HOST=host("acme")).status_code == 404
