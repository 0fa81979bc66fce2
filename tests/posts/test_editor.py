"""The editor: highlighted code, task lists, images, excerpts and the preview."""

import re
from html import unescape

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.posts.markdown import excerpt, plain_text, render, render_markdown
from apps.posts.models import Post
from apps.posts.services import comment_create, post_create
from apps.tenancy.routing.context import tenant_context
from tests.conftest import admin_email, host
from tests.posts.test_posts import parsed_elements

CODE = "```python\ndef ship(version):\n    return f'v{version}'\n```\n"


def test_fenced_code_is_highlighted_with_its_language_and_no_indent_on_line_one():
    html = render_markdown(CODE)
    assert html.startswith('<pre><code class="language-python"><span class="k">def</span>')
    assert '<span class="nf">ship</span>' in html
    assert "\n    <span" in html  # the second line keeps its indent, the first has none
    text = unescape(re.sub(r"<[^>]+>", "", html))
    assert text.startswith("def ship(version):\n    return f'v{version}'\n")


def test_code_in_an_unknown_language_or_none_is_escaped_plain():
    for source in ("```nosuchlanguage\n<b>x</b>\n```", "```\n<b>x</b>\n```"):
        html = render_markdown(source)
        assert "&lt;b&gt;x&lt;/b&gt;" in html and "<span" not in html
        assert "<b>" not in html


def test_the_code_block_css_does_not_pad_code_inside_pre(client):
    css = client.get("/static/css/posts.css", HTTP_HOST="quire.test").getvalue().decode()
    rule = re.search(r"\.prose pre code \{([^}]*)\}", css)
    assert rule and "padding: 0" in rule.group(1)


def test_task_lists_render_as_disabled_checkboxes():
    html = render_markdown("- [ ] write docs\n- [x] ship it\n- plain")
    boxes = [attrs for tag, attrs in parsed_elements(html) if tag == "input"]
    assert len(boxes) == 2
    for attrs in boxes:
        assert dict(attrs)["type"] == "checkbox" and "disabled" in dict(attrs)
    assert ["checked" in dict(attrs) for attrs in boxes] == [False, True]
    assert '<li class="task-list-item">' in html and "<li>plain</li>" in html


@pytest.mark.parametrize(
    "source",
    [
        "<input type=text autofocus onfocus=alert(1)>",
        '<span class="k" onclick="x">x</span>',
        '<pre><code class="language-python" onmouseover="x">x</code></pre>',
    ],
)
def test_the_sanitiser_stays_strict(source):
    html = render_markdown(source)
    assert not [tag for tag, _attrs in parsed_elements(html) if tag in ("input", "span")]
    assert "&lt;" in html  # raw HTML is shown as text


def test_only_checkboxes_and_known_classes_survive_the_sanitiser():
    import nh3  # what the renderer's own cleaning does to HTML it did not make

    from apps.posts import markdown

    raw = (
        '<input type="text" value="x"><span class="k evil">k</span>'
        '<code class="language-python language-evil">c</code>'
    )
    cleaned = nh3.clean(
        raw,
        tags=set(nh3.ALLOWED_TAGS) | {"input"},
        allowed_classes=markdown._allowed_classes(),
        tag_attribute_values={"input": {"type": {"checkbox"}, "checked": {"checked", ""}}},
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
    )
    assert 'type="text"' not in cleaned and 'disabled="disabled"' in cleaned
    assert 'class="k"' in cleaned and "evil" not in cleaned


def test_images_from_this_host_show_and_from_elsewhere_become_links():
    html = render_markdown(
        "![chart](/attachments/3/chart.png) ![tracker](https://evil.example/t.png)"
    )
    assert '<img src="/attachments/3/chart.png" alt="chart">' in html
    assert '<a href="https://evil.example/t.png" rel="noopener nofollow">tracker</a>' in html
    assert "evil.example/t.png" not in str(
        [attrs for tag, attrs in parsed_elements(html) if tag == "img"]
    )
    assert "<img" not in render_markdown("![x](//evil.example/t.png)")


def test_excerpts_keep_list_items_apart_and_show_no_markdown():
    html = render_markdown(
        "## Agenda\n\nThree things:\n\n- budget\n- **hiring**\n- [ ] offsite\n\nSee [notes](https://x.example)."
    )
    assert excerpt(html) == "Agenda\nThree things:\n• budget\n• hiring\n☐ offsite\nSee notes."
    long = render_markdown(" ".join(f"word{n}" for n in range(100)))
    assert excerpt(long).endswith("word39…")


def test_plain_text_of_tables_and_code():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```sh\nmake test\n```")
    assert plain_text(html) == "a b\n1 2\nmake test"


def test_render_gives_html_text_and_excerpt():
    rendered = render("**Hi** there\n\n- one\n- two")
    assert rendered["body_html"].startswith("<p><strong>Hi</strong>")
    assert rendered["body_text"] == "Hi there\n• one\n• two"
    assert rendered["excerpt"] == rendered["body_text"]


def test_the_list_shows_readable_excerpts(acme, member):
    with tenant_context(acme):
        admin = User.objects.get(email=admin_email("acme"))
        post_create(author=admin, title="Plan", body="Steps:\n\n- one\n- two")
    page = member.get("/", HTTP_HOST=host("acme")).content.decode()
    assert '<div class="excerpt">Steps:\n• one\n• two</div>' in page
    assert "/static/css/posts.css" in page


def test_preview_endpoint_renders_sanitised_html(acme, member):
    response = member.post(
        "/preview/", {"body": CODE + "\n<script>x</script>"}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert '<code class="language-python">' in html and "<script>" not in html
    empty = member.post("/preview/", {"body": "  "}, HTTP_HOST=host("acme"))
    assert b"Nothing to preview yet" in empty.content
    assert member.get("/preview/", HTTP_HOST=host("acme")).status_code == 405
    assert Client().post("/preview/", {"body": "x"}, HTTP_HOST=host("acme")).status_code in (
        403,
        404,
    )


def test_preview_button_works_without_script_and_saves_nothing(acme, member):
    response = member.post(
        "/posts/new/",
        {"title": "", "body": "- [x] done\n\n" + CODE, "tags": "ops", "preview": "1"},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-editor-preview aria-label="Preview">' in html  # shown, not hidden
    assert '<code class="language-python"><span class="k">def</span>' in html
    assert 'type="checkbox"' in html
    assert "- [x] done" in html  # the text stays in the editor
    assert 'value="ops"' in html
    assert "This field is required" not in html  # a preview needs no title
    with tenant_context(acme):
        assert not Post.objects.exists()


def test_the_form_has_the_editor_hooks_and_a_static_script(acme, member):
    html = member.get("/posts/new/", HTTP_HOST=host("acme")).content.decode()
    assert 'enctype="multipart/form-data"' in html and "data-editor" in html
    assert 'name="preview"' in html and 'type="file"' in html and "multiple" in html
    assert '<script src="/static/js/editor.js" defer></script>' in html
    assert "<script>" not in html  # the CSP forbids inline scripts
    script = member.get("/static/js/editor.js", HTTP_HOST=host("acme"))
    assert script.status_code == 200


def test_comment_preview_without_script(acme, member):
    with tenant_context(acme):
        admin = User.objects.get(email=admin_email("acme"))
        post = post_create(author=admin, title="Plan", body="x")
        comment_create(post=post, author=admin, body="first")
    response = member.post(
        f"/posts/{post.pk}/", {"body": "**bold** idea", "preview": "1"}, HTTP_HOST=host("acme")
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<div class="prose" data-editor-preview-body><p><strong>bold</strong> idea</p>' in html
    assert "**bold** idea</textarea>" in html
    with tenant_context(acme):
        assert post.comments.count() == 1
