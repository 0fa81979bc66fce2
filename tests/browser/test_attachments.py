"""Attachments and the editor in a real browser: choose, drop, preview, publish, refuse."""

import base64
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_up
from tests.posts.test_attachments import ELF, png

IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"
# Sign-up is the first workspace of the run: it builds the template database, which can
# take longer than the default 10 s on a busy machine.
PATIENCE_MS = 60_000


@pytest.fixture(autouse=True)
def template_built(site):
    """Build the template database before the browser signs up."""
    from apps.tenancy.fleet.template import template_path

    template_path()


def watch_csp(page) -> list[str]:
    """Collect the page's Content-Security-Policy violations reported on the console."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


def drop_file(page, selector: str, name: str, content: bytes, mime: str) -> None:
    """Drop a file on an element, as a drag from the desktop does."""
    page.evaluate(
        """([selector, name, data, mime]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            const target = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                          dataTransfer: transfer}));
            }
        }""",
        [selector, name, base64.b64encode(content).decode(), mime],
    )


def test_attach_by_choosing_and_dropping_preview_and_publish(new_context, site):
    context = new_context()
    context.set_default_timeout(PATIENCE_MS)
    page = context.new_page()
    violations = watch_csp(page)
    workspace = sign_up(page, site)
    page.goto(f"{workspace}/posts/new/")
    page.get_by_label("Title").fill("Offsite photos")
    page.get_by_label("Body").fill("The beach:")

    page.get_by_label("Attach files").set_input_files(
        {"name": "beach.png", "mimeType": "image/png", "buffer": png(8, 6)}
    )
    status = page.locator("[data-editor-status]")
    expect(status).to_have_text("Attached “beach.png”.")
    expect(page.get_by_label("Body")).to_have_value(
        re.compile(r"The beach:\n\n!\[beach\.png\]\(</attachments/\d+/beach\.png>\)\n")
    )
    assert page.get_by_label("Attach files").input_value() == ""  # not sent again on publish

    page.get_by_label("Body").press("End")
    drop_file(page, "textarea[name=body]", "agenda.txt", b"9:00 coffee\n", "text/plain")
    expect(status).to_have_text("Attached “agenda.txt”.")
    expect(page.get_by_label("Body")).to_have_value(
        re.compile(r"\[agenda\.txt\]\(</attachments/\d+/agenda\.txt>\)")
    )

    drop_file(page, "textarea[name=body]", "tool.png", ELF, "image/png")
    expect(status).to_contain_text("“tool.png” cannot be attached")
    expect(status).to_have_class(re.compile("error"))

    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("img[alt='beach.png']")).to_be_visible()
    assert preview.locator("img").evaluate(IMAGE_LOADED)
    expect(preview.get_by_role("link", name="agenda.txt")).to_be_visible()
    assert page.url == f"{workspace}/posts/new/"  # the preview came without leaving the page

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Offsite photos")
    image = page.locator(".prose img[alt='beach.png']")
    expect(image).to_be_visible()
    assert image.evaluate(IMAGE_LOADED)
    source = image.get_attribute("src")
    assert violations == []

    stranger = new_context().new_page()
    response = stranger.goto(f"{workspace}{source}")
    assert response is not None and response.status == 404


def test_the_editor_works_without_script(new_context, site):
    page = new_context().new_page()
    page.context.set_default_timeout(PATIENCE_MS)
    workspace = sign_up(page, site)
    no_script = new_context(java_script_enabled=False, storage_state=page.context.storage_state())
    no_script.set_default_timeout(PATIENCE_MS)
    page = no_script.new_page()
    page.goto(f"{workspace}/posts/new/")
    page.get_by_label("Title").fill("Release")
    page.get_by_label("Body").fill("- [x] build\n- [ ] deploy\n\n```python\nprint('hi')\n```")
    page.get_by_label("Attach files").set_input_files(
        {"name": "graph.png", "mimeType": "image/png", "buffer": png(4, 4)}
    )
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("img[alt='graph.png']")).to_be_visible()
    assert preview.locator("img").evaluate(IMAGE_LOADED)
    expect(preview.locator("input[type=checkbox]")).to_have_count(2)
    expect(preview.locator("input[type=checkbox]").first).to_be_disabled()
    expect(preview.locator("code.language-python .nb")).to_have_text("print")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Release")
    expect(page.locator(".prose img[alt='graph.png']")).to_be_visible()
