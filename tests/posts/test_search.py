import sqlite3

import pytest

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.selectors import fts_query, plain_query, search
from apps.posts.services import comment_create, comment_delete, post_create, post_update
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
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


@pytest.mark.parametrize(
    ("query", "finds"),
    [
        ("Status: deploy", True),
        ("c++", True),
        ("AND", True),
        ('"deploy window', True),
        ("deploy)", True),
        ("NEAR(", False),
        ("*", False),
        ("title:", False),
        ("(x", False),
    ],
)
def test_everyday_queries_that_are_not_fts_syntax_search_their_words(acme, query, finds):
    post_create(
        author=admin(),
        title="Release notes",
        body="## Status: deploy\n\nThe deploy window and the C++ build are ready.",
    )
    hits = search(text=query)
    assert bool(hits) is finds
    if finds:
        assert titles(query) == ["Release notes"]


def test_valid_fts_syntax_is_still_used(acme):
    post_create(author=admin(), title="Deploy", body="Friday")
    post_create(author=admin(), title="Rollback", body="Monday")
    assert sorted(titles("deploy OR rollback")) == ["Deploy", "Rollback"]
    assert titles('"friday"') == ["Deploy"]


def test_plain_query_makes_every_word_a_term(acme):
    assert plain_query('Status: "deploy') == '"Status"* "deploy"*'
    assert plain_query("c++ go") == '"c" "go"'
    assert plain_query("+++") == ""


def test_search_indexes_and_shows_plain_text_not_markdown(acme):
    post_create(
        author=admin(),
        title="Runbook",
        body="## Deploy steps\n\nSee the **runbook** at [our wiki](https://wiki.example/run).",
    )
    hit = search(text="runbook")[0]
    snippet = str(hit.snippet)
    assert "<mark>runbook</mark>" in snippet and "our wiki" in snippet
    for markdown in ("##", "**", "](", "https://wiki.example"):
        assert markdown not in snippet
    assert search(text="https") == []  # link targets are not text a reader sees


def test_results_show_author_date_and_tags(client, make_tenant, sign_in):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        post = post_create(author=admin(), title="Offsite", body="Lighthouse trip", tags=["team"])
        comment_create(post=post, author=admin(), body="The lighthouse is closed on Mondays")
    sign_in(client, tenant)
    response = client.get("/search/", {"q": "lighthouse"}, HTTP_HOST=host("acme"))
    text = response.content.decode()
    assert "Post by" in text
    assert "Comment by" in text
    assert f'href="/posts/{post.pk}/#comment-' in text
    assert 'href="/?tag=team">#team</a>' in text
    assert "<time datetime=" in text
    hits = search_in(tenant, "lighthouse")
    assert {hit.kind for hit in hits} == {"post", "comment"}
    assert all(hit.author and hit.author.email == admin_email("acme") for hit in hits)
    assert all(hit.tags == ["team"] for hit in hits)
    assert all(hit.created_at.tzinfo is not None for hit in hits)


def search_in(tenant, text):
    with tenant_context(tenant):
        return search(text=text)


def test_search_page_answers_every_query(client, make_tenant, sign_in):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        post_create(author=admin(), title="Plan", body="Status: deploy on Friday")
    sign_in(client, tenant)
    for query in ('"unbalanced', "*", "NEAR(", "Status: deploy", "c++", "AND", "a AND", "(x"):
        response = client.get("/search/", {"q": query}, HTTP_HOST=host("acme"))
        assert response.status_code == 200
        assert b"could not be understood" not in response.content
    found = client.get("/search/", {"q": "Status: deploy"}, HTTP_HOST=host("acme"))
    assert b"1 result for" in found.content
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
    from apps.tenancy.routing.context import tenant_context

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


def test_migration_0005_indexes_existing_posts_as_plain_text(acme):
    from django.core.management import call_command

    from apps.tenancy.routing.work import current_connection

    alias = current_connection().alias
    call_command("migrate", "posts", "0004", database=alias, verbosity=0)
    with current_connection().cursor() as cursor:
        cursor.execute(
            "INSERT INTO posts_post(title, body, body_html, excerpt, author_id, created_at) "
            "VALUES ('Old', '## Status: **deploy** [wiki](https://wiki.example)', '', '', %s, "
            "'2026-01-01 00:00:00')",
            [admin().pk],
        )
        assert cursor.execute(
            "SELECT count(*) FROM posts_post_fts WHERE posts_post_fts MATCH 'wiki'"
        ).fetchone() == (1,)  # before: the Markdown, link address included
    call_command("migrate", "posts", database=alias, verbosity=0)
    post = Post.objects.get(title="Old")
    assert post.body_text == "Status: deploy wiki"
    assert post.body_html.startswith("<h2>Status: <strong>deploy</strong>")
    assert post.excerpt == "Status: deploy wiki"
    assert titles("deploy") == ["Old"] and search(text="https") == []
