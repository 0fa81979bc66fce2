"""A mistyped workspace subdomain in a real browser: a page that leads somewhere else."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_unknown_workspace_leads_to_the_finder_and_sign_up(page: Page, site: str, settings) -> None:
    settings.QUIRE_SUPPORT_EMAIL = "help@quire.example"
    response = page.goto(site.replace("//localhost", "//acmee.localhost") + "/login/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("No workspace at “acmee”")
    expect(page.get_by_role("link", name="help@quire.example")).to_have_attribute(
        "href", "mailto:help@quire.example"
    )
    page.get_by_role("link", name="Create a workspace").click()
    expect(page).to_have_url(f"{site}/signup/")
    page.go_back()
    page.get_by_role("link", name="Find your workspace").click()
    expect(page).to_have_url(f"{site}/")
    expect(page.get_by_role("heading", name="Already have a workspace?")).to_be_visible()
