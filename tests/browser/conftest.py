"""Browser tests: Playwright driving Debian's Chromium against a live server.

Workspaces are served on http://<slug>.localhost:<port>; Chromium resolves every
*.localhost name to the loopback address by itself. On failure a screenshot of each open
page is saved in test-artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests, closed before any other test runs.

    Playwright's sync API keeps an event loop in this thread while it is open; the tests'
    own database work (fixtures, flushes) runs between its calls, so Django's guard
    against database calls from async code is lifted for that time only.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium.")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def site(live_server, settings, transactional_db) -> str:
    """Return the live server's address on the localhost base domain."""
    settings.QUIRE_BASE_DOMAIN = "localhost"
    settings.ALLOWED_HOSTS = [".localhost"]
    port = re.search(r":(\d+)$", live_server.url).group(1)
    settings.QUIRE_URL_SCHEME, settings.QUIRE_URL_PORT = "http", port  # links and redirects
    return f"http://localhost:{port}"


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator:
    """Open browser contexts (separate cookie jars); screenshot their pages on failure."""
    contexts: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{request.node.name}-{n}-{m}.png", full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


def sign_up(page: Page, site: str, slug: str = "acme", name: str = "Acme Inc") -> str:
    """Sign up a workspace through the form; return its address."""
    page.goto(f"{site}/signup/")
    page.get_by_label("Workspace name").fill(name)
    page.get_by_label("Subdomain").fill(slug)
    page.get_by_label("Your e-mail").fill(f"boss@{slug}.example")
    page.get_by_label("Password").fill("a-Strong-pass-9")
    page.get_by_role("button", name="Create workspace").click()
    workspace = site.replace("//localhost", f"//{slug}.localhost")
    page.wait_for_url(f"{workspace}/")
    return workspace
