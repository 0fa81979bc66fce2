import pytest

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host


@pytest.fixture
def acme_and_beta(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(beta):
        author = User.objects.get(email=admin_email("beta"))
        secret = post_create(author=author, title="Beta secret plans", body="hidden")
    return acme, beta, secret


def test_signed_in_member_writes_and_reads_posts(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    sign_in(client, acme)
    empty = client.get("/", HTTP_HOST=host("acme"))
    assert b"No posts yet" in empty.content
    response = client.post(
        "/posts/new/", {"title": "Hello", "body": "World"}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 302
    detail = client.get(response.url, HTTP_HOST=host("acme"))
    assert b"Hello" in detail.content and b"World" in detail.content
    assert b"Hello" in client.get("/", HTTP_HOST=host("acme")).content


def test_invalid_post_shows_the_field_error(client, make_tenant, sign_in):
    sign_in(client, make_tenant("acme"))
    response = client.post("/posts/new/", {"title": "", "body": "x"}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert response.context["form"].errors == {"title": ["This field is required."]}


def test_posts_list_newest_first(client, make_tenant, sign_in):
    acme = make_tenant("acme")
    with tenant_context(acme):
        author = User.objects.get(email=admin_email("acme"))
        for title in ("first", "second", "third"):
            post_create(author=author, title=title, body="")
    sign_in(client, acme)
    page = client.get("/", HTTP_HOST=host("acme")).context["page"]
    assert [p.title for p in page] == ["third", "second", "first"]


def test_member_of_a_sees_nothing_of_b(client, acme_and_beta, sign_in):
    acme, _beta, _secret = acme_and_beta
    sign_in(client, acme)
    response = client.get("/", HTTP_HOST=host("acme"))
    assert b"Beta secret plans" not in response.content
    assert b"No posts yet" in response.content


def test_session_cookie_of_a_is_not_signed_in_on_b(client, acme_and_beta, sign_in):
    acme, _beta, _secret = acme_and_beta
    sign_in(client, acme)
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200
    response = client.get("/", HTTP_HOST=host("beta"))
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_object_id_of_b_requested_on_a_is_404(client, acme_and_beta, sign_in):
    acme, beta, secret = acme_and_beta
    sign_in(client, acme)
    response = client.get(f"/posts/{secret.pk}/", HTTP_HOST=host("acme"))
    assert response.status_code == 404
    assert b"Beta secret plans" not in response.content
    with tenant_context(beta):
        assert Post.objects.filter(pk=secret.pk).exists()


def test_anonymous_user_is_sent_to_sign_in(client, make_tenant):
    make_tenant("acme")
    response = client.get("/posts/new/", HTTP_HOST=host("acme"))
    assert response.status_code == 302 and response.url == "/login/?next=/posts/new/"


def test_sign_in_and_sign_out_with_the_form(client, make_tenant):
    make_tenant("acme")
    bad = client.post(
        "/login/", {"username": "admin@acme.example", "password": "wrong"}, HTTP_HOST=host("acme")
    )
    assert b"Please enter a correct e-mail address and password" in bad.content
    good = client.post(
        "/login/",
        {"username": "ADMIN@acme.example", "password": "correct-horse-battery-9"},
        HTTP_HOST=host("acme"),
    )
    assert good.status_code == 302
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 200
    client.post("/logout/", HTTP_HOST=host("acme"))
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 302


def test_admin_of_a_workspace_manages_only_its_own_data(client, acme_and_beta, sign_in):
    acme, _beta, _secret = acme_and_beta
    sign_in(client, acme)
    assert client.get("/admin/", HTTP_HOST=host("acme")).status_code == 200
    posts = client.get("/admin/posts/post/", HTTP_HOST=host("acme"))
    assert posts.status_code == 200
    assert b"Beta secret plans" not in posts.content
    assert b"0 posts" in posts.content
