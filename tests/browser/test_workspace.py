"""The workspace lifecycle in a real browser."""

import re

from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import sign_up


def write_post(page, workspace, title, body, tags=""):
    page.goto(f"{workspace}/posts/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Body").fill(body)
    page.get_by_label("Tags").fill(tags)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_sign_up_write_comment_and_search(page, site):
    workspace = sign_up(page, site)
    expect(page.get_by_role("status")).to_contain_text("Welcome to Acme Inc!")
    expect(page.get_by_text("No posts yet")).to_be_visible()

    write_post(
        page, workspace, "Quarterly planning", "We plan **boldly**.\n\n- goals\n- budget", "q3"
    )
    expect(page.locator("article .prose strong")).to_have_text("boldly")
    expect(page.locator("article .prose li")).to_have_count(2)

    page.get_by_label("Add a comment").fill("Count me in for the _budget_ review")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator(".comment .prose em")).to_have_text("budget")
    expect(page.get_by_role("heading", name="1 comment")).to_be_visible()

    page.get_by_role("search").get_by_role("searchbox").fill("plan")
    page.keyboard.press("Enter")
    expect(page.locator(".hit mark").first).to_have_text(re.compile("plan", re.I))
    expect(page.locator(".hit h2")).to_contain_text(["Quarterly planning"])

    page.goto(f"{workspace}/search/?q=%22plan")  # an unclosed quote: its words are searched
    expect(page.locator(".hit h2")).to_contain_text(["Quarterly planning"])
    expect(page.get_by_role("alert")).to_have_count(0)


def test_invited_member_joins_in_another_browser(new_context, site):
    admin = new_context().new_page()
    workspace = sign_up(admin, site)
    admin.get_by_role("link", name="Members").click()
    admin.get_by_label("E-mail").fill("nora@acme.example")
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.locator(".message[role=status]")).to_contain_text("nora@acme.example")
    link = re.search(r"http://\S+/invitation/\S+/", mail.outbox[-1].body).group(0)

    member = new_context().new_page()
    member.goto(link)
    expect(member.get_by_text("You were invited as nora@acme.example")).to_be_visible()
    member.get_by_label("First name").fill("Nora")
    member.get_by_label("Password:", exact=True).fill("nora-Strong-pass-5")
    member.get_by_label("Password again").fill("nora-Strong-pass-5")
    member.get_by_role("button", name="Join the workspace").click()
    member.wait_for_url(f"{workspace}/")
    expect(member.get_by_role("status")).to_contain_text("Welcome to Acme Inc!")
    nav = member.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Posts")).to_be_visible()
    expect(nav.get_by_role("link", name="Members")).to_have_count(0)
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    member.goto(f"{workspace}/members/")
    expect(member.get_by_role("heading", name="Not allowed")).to_be_visible()

    admin.reload()
    expect(admin.get_by_role("cell", name=re.compile("nora@acme.example"))).to_be_visible()


def test_script_injection_in_a_post_is_shown_as_text(page, site):
    workspace = sign_up(page, site)
    attack = '<script>window.pwned = true</script>\n\n<img src=x onerror="window.pwned = true">'
    write_post(page, workspace, "Totally harmless", attack)
    expect(page.locator("article .prose")).to_contain_text("<script>window.pwned = true</script>")
    expect(page.locator("article .prose")).to_contain_text("<img src=x onerror=")
    assert page.evaluate("window.pwned === undefined")
    assert page.locator(".prose script, .prose img").count() == 0


def test_pages_fit_a_375_pixel_screen(new_context, site):
    phone = new_context(viewport={"width": 375, "height": 740}).new_page()
    workspace = sign_up(phone, site)
    write_post(phone, workspace, "A rather long title that has to wrap on a small screen", "Body")
    for path in ("/", "/members/", "/settings/", "/search/?q=title"):
        phone.goto(f"{workspace}{path}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide"
