"""Bookmarks: every write hands back how far the workspace has come, and they only grow."""

from __future__ import annotations

import pytest

from apps.tenancy.fleet.services import tenant_backup, tenant_restore
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of, sign, verified
from apps.tenancy.routing.databases import database_path, release_all
from tests.conftest import host


def handed(response, tenant) -> Bookmark | None:
    """Return the bookmark a response handed back, verified for its workspace."""
    return verified(response["X-Quire-Bookmark"], tenant_id=tenant.pk)


def post(client, title: str):
    form = {"title": title, "body": "b", "tags": "x"}
    return client.post("/posts/new/", form, HTTP_HOST=host("acme"))


def test_a_write_hands_back_a_bookmark_in_a_cookie_and_a_header(client, make_tenant, sign_in):
    tenant = make_tenant("acme")
    sign_in(client, tenant)
    first = post(client, "One")
    second = post(client, "Two")
    marks = [handed(response, tenant) for response in (first, second)]
    assert marks[0] is not None and marks[1] is not None
    assert marks[0] < marks[1]
    cookie = second.cookies["quire_bookmark"]
    assert verified(cookie.value, tenant_id=tenant.pk) == marks[1]
    assert Bookmark.parse(cookie.value) is None  # signed: the numbers alone are no bookmark
    assert not cookie["domain"]  # host-only: this workspace's pages only
    assert cookie["httponly"]
    release_all()
    assert bookmark_of(database_path("acme")) == marks[1]  # it is in the file


def test_a_read_hands_back_no_bookmark_and_says_who_served_it(client, make_tenant, sign_in):
    sign_in(client, make_tenant("acme"))
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert "X-Quire-Bookmark" not in response
    assert response["X-Quire-Served-By"] == "node-1 primary"


def test_after_an_in_place_restore_every_earlier_bookmark_is_older(
    client, make_tenant, sign_in, tmp_path
):
    tenant = make_tenant("acme")
    sign_in(client, tenant)
    backup = tenant_backup(tenant=tenant, destination=tmp_path / "early.sqlite3")
    before = [handed(post(client, f"Post {n}"), tenant) for n in range(3)]
    tenant_restore(slug="acme", source=backup)  # back to fewer writes
    release_all()
    restored = bookmark_of(database_path("acme"))
    assert restored is not None
    assert restored.position < before[-1].position
    assert all(mark < restored for mark in before)
    sign_in(client, tenant)
    after = handed(post(client, "After the restore"), tenant)
    assert after > restored > before[-1]


@pytest.mark.parametrize("text", ["", "1", "a.b", "1.2.3", "-1.5", "9" * 30 + ".1", None])
def test_a_bookmark_that_is_not_one_is_ignored(text):
    assert Bookmark.parse(text) is None


def test_a_bookmark_is_signed_for_one_workspace(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    text = sign(Bookmark(0, 12), tenant_id=acme.pk)
    assert verified(text, tenant_id=acme.pk) == Bookmark(0, 12)
    assert verified(text, tenant_id=beta.pk) is None  # another workspace's
    assert verified(text.replace("0.12", "0.99"), tenant_id=acme.pk) is None  # altered
    assert verified("0.12", tenant_id=acme.pk) is None  # unsigned
    assert verified(text + "x" * 500, tenant_id=acme.pk) is None
