"""Take the screenshots in docs/screenshots: the main pages at 1280 and 375 pixels wide.

    make screenshots

Starts the development server on a free port with a throwaway catalog and tenants folder,
creates the demo workspace, signs in with Chromium and saves one PNG per page and width.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
WIDTHS = {"desktop": (1280, 860), "mobile": (375, 740)}


def main() -> None:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="quire-screenshots-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{work / 'catalog.sqlite3'}",
        "TENANTS_DATA_DIR": str(work / "tenants"),
        "DJANGO_MEDIA_ROOT": str(work / "media"),
        "QUIRE_URL_PORT": str(port),
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "demo_workspace"], env=env, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://localhost:{port}/")
        capture(f"http://localhost:{port}", f"http://demo.localhost:{port}")
    finally:
        server.terminate()
        server.wait()


def capture(apex: str, workspace: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, (width, height) in WIDTHS.items():
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            shoot(page, f"{apex}/", f"landing-{label}")
            shoot(page, f"{apex}/signup/", f"signup-{label}")
            shoot(page, f"{workspace}/login/", f"login-{label}")
            page.get_by_label("E-mail address").fill("admin@demo.example")
            page.get_by_label("Password").fill("quire-demo-password")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{workspace}/")
            shoot(page, f"{workspace}/", f"posts-{label}")
            page.get_by_role("link", name="Quarterly planning").click()
            shoot(page, page.url, f"post-{label}")
            shoot(page, f"{workspace}/search/?q=plan", f"search-{label}")
            editor(page, workspace, f"editor-{label}")
            shoot(page, f"{workspace}/members/", f"members-{label}")
            shoot(page, f"{workspace}/people/", f"people-{label}")
            shoot(page, f"{workspace}/account/", f"account-{label}")
            shoot(page, f"{workspace}/settings/", f"settings-{label}")
            shoot(page, f"{workspace}/posts/999/", f"not-found-{label}")
            unknown = workspace.replace("//demo.", "//no-such-team.", 1)
            shoot(page, f"{unknown}/", f"unknown-workspace-{label}")
        browser.close()


EDITOR_TEXT = """Release checklist:

- [x] build the images
- [ ] deploy to staging

```python
def ship(version: str) -> str:
    return f"v{version}"
```
"""


def editor(page: Page, workspace: str, name: str) -> None:
    """Shoot the post editor with an attached image and the preview shown."""
    page.goto(f"{workspace}/posts/new/")
    page.get_by_label("Title").fill("Release 2.4")
    page.get_by_label("Body").fill(EDITOR_TEXT)
    page.get_by_label("Attach files").set_input_files(str(OUT / "landing-desktop.png"))
    page.get_by_text("Attached “landing-desktop.png”.").wait_for()
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("region", name="Preview").locator("img").wait_for()
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/screenshots/{name}.png")


def shoot(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"docs/screenshots/{name}.png")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (our own server on loopback)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
