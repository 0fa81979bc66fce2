import sqlite3

import pytest

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.selectors import SearchSyntaxError, fts_query, search
from apps.posts.services import comment_create, comment_delete, post_create, post_update
from apps.tenancy.context import tenant_context
from apps.tenancy.databases import database_path
from tests.conftest import admin_email, host


@pytest.fixture
def acme(make_tenant):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        yield tenant


def admin():
    return User.objects.get(email=admin_email("acme"))


def titles(text):
    return [
        str(hit.title).replace("<mark>", "").replace("</mark>", "") for hit in search(text=text)
    ]


def test_search_finds_ranked_posts_with_highlighted_snippets(acme):
    post_create(author=admin(), title="Lunch menu", body="Soup on Monday, planning later.")
    post_create(
        author=admin(), title="Quarterly planning", body="The planning meeting is on Friday."
    )
    hits = search(text="planning")
    assert hits[0].post_id == Post.objects.get(title="Quarterly planning").pk
    assert str(hits[0].title) == "Quarterly <mark>planning</mark>"
    assert "<mark>planning</mark>" in str(hits[0].snippet)


def test_plain_words_match_as_prefixes(acme):
    post_create(author=admin(), title="Roadmap", body="Infrastructure upgrades")
    assert titles("infra") == ["Roadmap"]
    assert titles("road infra") == ["Roadmap"]
    assert fts_query('plan "x') == 'plan "x'
    assert fts_query("plan day") == '"plan"* "day"*'


def test_comments_are_searched_too(acme):
    post = post_create(author=admin(), title="Offsite", body="Where shall we go?")
    comment_create(post=post, author=admin(), body="How about the lighthouse?")
    hits = search(text="lighthouse")
    assert [(h.kind, h.post_id) for h in hits] == [("comment", post.pk)]


def test_index_follows_edits_and_deletes(acme):
    post = post_create(author=admin(), title="Draft", body="alpha")
    comment = comment_create(post=post, author=admin(), body="gamma")
    post_update(post=post, user=admin(), title="Draft", body="beta", tags=[])
    assert titles("alpha") == [] and titles("beta") == ["Draft"]
    comment_delete(comment=comment, user=admin())
    assert search(text="gamma") == []
    Post.objects.filter(pk=post.pk).delete()
    assert search(text="beta") == []


def test_indexed_text_is_escaped(acme):
    post_create(author=admin(), title="<b>bold</b> claims", body="<script>alert('x')</script> xss")
    hit = search(text="xss")[0]
    assert "<script>" not in str(hit.snippet) and "&lt;script&gt;" in str(hit.snippet)
    assert str(hit.title) == "&lt;b&gt;bold&lt;/b&gt; claims"


@pytest.mark.parametrize("bad", ['"unbalanced', "*", "NEAR(", "title:", "a AND", "(x"])
def test_fts_syntax_errors_raise_a_friendly_error(acme, bad):
    with pytest.raises(SearchSyntaxError, match="could not be understood"):
        search(text=bad)


def test_search_page_never_fails_on_syntax(client, make_tenant, sign_in):
    tenant = make_tenant("acme")
    sign_in(client, tenant)
    for bad in ('"unbalanced', "*", "NEAR("):
        response = client.get("/search/", {"q": bad}, HTTP_HOST=host("acme"))
        assert response.status_code == 200
        assert b"could not be understood" in response.content
    empty = client.get("/search/", {"q": "nothing-matches"}, HTTP_HOST=host("acme"))
    assert b"No results" in empty.content


def test_search_triggers_exist_in_new_tenants(make_tenant):
    make_tenant("acme")
    with sqlite3.connect(database_path("acme")) as raw:
        triggers = {
            name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        }
    assert triggers == {
        f"{index}_{kind}"
        for index in ("posts_post_fts", "posts_comment_fts")
        for kind in ("ai", "ad", "au")
    }


def test_a_search_on_a_locked_or_slow_workspace_is_not_called_a_syntax_error(
    make_tenant, monkeypatch
):
    import sqlite3

    from django.db import OperationalError

    from apps.posts import selectors
    from apps.tenancy.context import tenant_context

    tenant = make_tenant("acme")
    interrupted = sqlite3.OperationalError("interrupted")
    interrupted.sqlite_errorcode = sqlite3.SQLITE_INTERRUPT

    class Stuck:
        def __enter__(self):
            raise OperationalError("interrupted") from interrupted

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(selectors.work, "cursor", Stuck)
    with tenant_context(tenant), pytest.raises(OperationalError):
        selectors.search(text="deploy")
