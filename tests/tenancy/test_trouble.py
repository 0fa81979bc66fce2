"""Busy, damaged and swapped workspace files, as users meet them: clear pages, no lost writes."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.fleet.services import tenant_backup, tenant_restore
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, release_all
from tests.conftest import PASSWORD, admin_email, host


def count_in_new_process(path: Path) -> int:
    """Count posts as another gunicorn worker would see them."""
    code = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
    code += "print(c.execute('SELECT count(*) FROM posts_post').fetchone()[0])\n"
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def hold_write_lock(slug: str) -> sqlite3.Connection:
    holder = sqlite3.connect(database_path(slug), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def let_go(holder: sqlite3.Connection) -> None:
    holder.execute("ROLLBACK")
    holder.close()


@pytest.mark.django_db(transaction=True)
def test_a_stale_worker_connection_closing_after_a_restore_keeps_the_restored_writes(
    make_tenant, tmp_path
):
    tenant = make_tenant("acme")
    backup = tenant_backup(tenant=tenant, destination=tmp_path / "acme-backup.sqlite3")
    worker = ThreadPoolExecutor(max_workers=1)  # one gunicorn thread, kept between requests

    def serve() -> int:
        with tenant_context(Tenant.objects.get(slug="acme")):
            return Post.objects.count()

    try:
        assert worker.submit(serve).result() == 0  # the worker keeps acme's old file open
        tenant_restore(slug="acme", source=backup)
        with tenant_context(Tenant.objects.get(slug="acme")):  # another worker writes
            author = User.objects.get(email=admin_email("acme"))
            for n in range(5):
                post_create(author=author, title=f"after restore {n}", body="acknowledged")
        assert worker.submit(serve).result() == 5  # its next request drops the old file
        assert count_in_new_process(database_path("acme")) == 5  # and the WAL stays
    finally:
        worker.submit(release_all).result()
        worker.shutdown()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_signing_in_to_a_locked_workspace_is_503_with_retry_after(make_tenant, settings, path):
    settings.TENANT_DB_TIMEOUT = 0.2
    make_tenant("acme")
    release_all()
    client = Client(raise_request_exception=False)
    client.get(path, HTTP_HOST=host("acme"))
    holder = hold_write_lock("acme")
    try:
        form = {"username": admin_email("acme"), "password": PASSWORD}
        response = client.post(path, form, HTTP_HOST=host("acme"))
    finally:
        let_go(holder)
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert b"This workspace is busy" in response.content


@pytest.mark.django_db(transaction=True)
def test_admin_delete_and_sign_out_of_a_locked_workspace_are_503(make_tenant, settings, sign_in):
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email("acme"))
        post = post_create(author=author, title="One", body="b")
    client = Client(raise_request_exception=False)
    sign_in(client, tenant)
    release_all()
    settings.TENANT_DB_TIMEOUT = 0.2
    holder = hold_write_lock("acme")
    try:
        deleted = client.post(
            f"/admin/posts/post/{post.pk}/delete/", {"post": "yes"}, HTTP_HOST=host("acme")
        )
        signed_out = client.post("/logout/", HTTP_HOST=host("acme"))
    finally:
        let_go(holder)
    assert (deleted.status_code, signed_out.status_code) == (503, 503)
    with tenant_context(tenant):
        assert Post.objects.filter(pk=post.pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["garbage", "truncated", "missing"])
def test_a_damaged_file_is_503_on_every_page_and_other_workspaces_serve(make_tenant, sign_in, how):
    tenant = make_tenant("acme")
    make_tenant("beta")
    client = Client(raise_request_exception=False)
    sign_in(client, tenant)
    release_all()
    path = database_path("acme")
    if how == "garbage":
        path.write_bytes(b"x" * 8192)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.unlink()
    for page in ("/", "/login/", "/admin/", "/settings/"):
        response = client.get(page, HTTP_HOST=host("acme"))
        assert response.status_code == 503, page
        assert b"Traceback" not in response.content
    assert Client().get("/login/", HTTP_HOST=host("beta")).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_deleting_the_workspace_from_its_settings_page_answers_and_then_404(make_tenant, sign_in):
    tenant = make_tenant("acme")
    client = Client(raise_request_exception=False)
    sign_in(client, tenant)
    response = client.post("/settings/delete/", {"confirm": "acme"}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 404


async def asgi_call(
    method: str, path: str, host_name: str, body: bytes = b"", cookie: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """Send one request through Django's ASGI handler, as uvicorn would."""
    headers = [(b"host", host_name.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if body:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": (host_name, 80),
        "client": ("127.0.0.1", 1),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        return {}

    async def send(message: dict) -> None:
        sent.append(message)

    await ASGIHandler()(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, content


def test_signing_in_over_asgi_to_a_locked_workspace_is_503(make_tenant, settings, transactional_db):
    make_tenant("acme")
    release_all()
    settings.TENANT_DB_TIMEOUT = 0.2

    async def sign_in_while_locked() -> tuple[int, dict[str, str], bytes]:
        _status, headers, page = await asgi_call("GET", "/login/", host("acme"))
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        form = {"username": admin_email("acme"), "password": PASSWORD}
        body = urlencode({**form, "csrfmiddlewaretoken": token.group(1).decode()}).encode()
        holder = hold_write_lock("acme")
        try:
            return await asgi_call("POST", "/login/", host("acme"), body, cookie)
        finally:
            let_go(holder)

    status, headers, page = asyncio.run(sign_in_while_locked())
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert b"This workspace is busy" in page
