"""People and notifications in a real browser, with e-mails caught by a real SMTP server."""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_up


class Mailbox:
    """An aiosmtpd handler keeping every message it receives, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)  # type: ignore[attr-defined]
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def wait_for(self, to: str, subject: str, timeout: float = 10.0) -> EmailMessage:
        """Return the first message to this address whose subject holds this text."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for message in self.messages:
                    if message["To"] == to and subject in message["Subject"]:
                        return message
            time.sleep(0.05)
        with self.lock:
            seen = [(m["To"], m["Subject"]) for m in self.messages]
        pytest.fail(f"no e-mail to {to} about {subject!r}; the server got {seen}")


@pytest.fixture(autouse=True)
def template_built(make_tenant, site) -> None:
    """Build the template database before the browser signs up (a slow first build under
    load would outlast the page's timeout); a throwaway workspace does it."""
    make_tenant("warmup")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(settings) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1; the job worker's e-mails go to it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    # Django's test set-up puts its in-memory backend in EMAIL_BACKEND: restore the app's.
    settings.EMAIL_BACKEND = "apps.core.mail.OneLineSubjectBackend"
    settings.QUIRE_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield mailbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]


def invite(admin: Page, workspace: str, smtp: Mailbox, new_context, email_address: str) -> Page:
    """Invite someone, accept as them in their own browser; return their page."""
    admin.goto(f"{workspace}/members/")
    admin.get_by_label("E-mail").fill(email_address)
    admin.get_by_role("button", name="Send invitation").click()
    message = smtp.wait_for(email_address, "invited you")
    link = re.search(r"http://\S+/invitation/\S+/", text_of(message)).group(0)
    member = new_context().new_page()
    member.goto(link)
    member.get_by_label("First name").fill("Nora")
    member.get_by_label("Last name").fill("Jones")
    member.get_by_label("Password:", exact=True).fill("nora-Strong-pass-5")
    member.get_by_label("Password again").fill("nora-Strong-pass-5")
    member.get_by_role("button", name="Join the workspace").click()
    member.wait_for_url(f"{workspace}/")
    return member


def test_the_account_page_by_keyboard_names_the_member_and_sets_their_zone(page, site):
    workspace = sign_up(page, site)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="boss").click()  # no name yet: the e-mail's first part
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    # A blank first name is refused, and the page says so to screen readers.
    page.get_by_label("First name").fill("")
    page.get_by_label("First name").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Please correct the fields marked below")
    expect(page.get_by_label("First name")).to_have_attribute("aria-invalid", "true")

    # Keyboard only: type, Tab to the next field, choose a zone, Enter submits.
    page.get_by_label("First name").focus()
    page.keyboard.type("Bo")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Last name")).to_be_focused()
    page.keyboard.type("Boss")
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_label("Last name").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Your account is saved.")
    expect(nav.get_by_role("link", name="Bo Boss")).to_be_visible()

    page.goto(f"{workspace}/posts/new/")
    page.get_by_label("Title").fill("Tokyo time")
    page.get_by_label("Body").fill("What time is it?")
    page.get_by_role("button", name="Publish").click()
    stamp = page.locator("article time").first
    expect(stamp).to_have_attribute("datetime", re.compile(r"\+09:00$"))
    page.goto(f"{workspace}/people/")
    expect(page.get_by_role("main").get_by_role("link", name="Bo Boss")).to_be_visible()


def test_a_mention_emails_the_person_who_unsubscribes_in_one_click(new_context, site, smtp):
    admin = new_context().new_page()
    workspace = sign_up(admin, site)
    nora = invite(admin, workspace, smtp, new_context, "nora@acme.example")

    admin.goto(f"{workspace}/posts/new/")
    admin.get_by_label("Title").fill("Release notes")
    admin.get_by_label("Body").fill("Could you check these, @Nora? Thanks.")
    admin.get_by_role("button", name="Publish").click()
    mention = admin.locator(".prose a.mention")
    expect(mention).to_have_text("@Nora")
    mention.click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Nora Jones")

    message = smtp.wait_for("nora@acme.example", "mentioned you")
    assert message["Subject"] == "boss mentioned you in “Release notes”"
    assert "Could you check these, @Nora? Thanks." in text_of(message)
    assert re.search(r'href="http://acme\.localhost:\d+/people/\d+/"', html_of(message))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = "".join(str(message["List-Unsubscribe"]).split())  # a long header is folded
    unsubscribe = re.fullmatch(r"<(http://acme\.localhost:\d+/unsubscribe/\S+/)>", header).group(1)
    assert unsubscribe in text_of(message)

    # From the e-mail, signed out (another browser): one button, no password.
    reader = new_context().new_page()
    reader.goto(unsubscribe)
    expect(reader.get_by_role("heading", level=1)).to_have_text("Stop these e-mails?")
    expect(reader.get_by_role("button", name="Unsubscribe")).to_be_focused()
    reader.keyboard.press("Enter")
    expect(reader.get_by_role("status")).to_contain_text(
        "You will no longer get e-mails when someone mentions you"
    )

    nora.goto(f"{workspace}/account/")
    expect(nora.get_by_label("E-mail me when someone mentions me")).not_to_be_checked()
    expect(nora.get_by_label("E-mail me about comments on posts I wrote")).to_be_checked()

    # Her comments still reach the author, who commented nothing and wrote the post.
    admin.goto(f"{workspace}/")
    admin.get_by_role("link", name="Release notes").click()
    post_url = admin.url
    nora.goto(post_url)
    nora.get_by_label("Add a comment").fill("Done, all good.")
    nora.get_by_role("button", name="Comment").click()
    expect(nora.get_by_role("heading", name="1 comment")).to_be_visible()
    told = smtp.wait_for("boss@acme.example", "commented on")
    assert told["Subject"] == "Nora Jones commented on “Release notes”"
    assert "Done, all good." in text_of(told)
