"""Attachments: upload, sniffed types, limits, access, storage quota, trash and rename."""

import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Attachment, Post
from apps.posts.services import post_delete
from apps.tenancy.fleet.services import tenant_delete, tenant_rename
from apps.tenancy.fleet.trash import trash_dir
from apps.tenancy.metering import storage_bytes
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.storage import media_dir, stored_bytes
from tests.conftest import admin_email, host


def png(width: int = 1, height: int = 1) -> bytes:
    """Return a real PNG image (white pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def upload(client, name, content, slug="acme", content_type="application/octet-stream"):
    return client.post(
        "/attachments/",
        {"file": SimpleUploadedFile(name, content, content_type)},
        HTTP_HOST=host(slug),
    )


def stored_files(slug="acme"):
    folder = media_dir(slug)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_an_image_is_stored_in_the_workspace_folder_and_shown_inline(acme, member):
    response = upload(member, "Chart (final).png", png(), content_type="text/plain")
    assert response.status_code == 201
    data = response.json()
    assert data["image"] is True and data["name"] == "Chart_final.png"
    assert data["markdown"] == f"![Chart_final.png](<{data['url']}>)"
    assert data["url"] == f"/attachments/{data['id']}/Chart_final.png"
    [path] = stored_files()
    assert path.read_bytes() == png()
    assert path.is_relative_to(Path(media_dir("acme")) / "attachments")
    served = member.get(data["url"], HTTP_HOST=host("acme"))
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png()
    assert served["Content-Type"] == "image/png"  # sniffed; the browser said text/plain
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline")
    assert "sandbox" in served["Content-Security-Policy"]
    assert "private" in served["Cache-Control"]


def test_the_image_renders_inline_in_a_post_within_the_csp(acme, member):
    data = upload(member, "chart.png", png()).json()
    response = member.post(
        "/posts/new/",
        {"title": "Chart", "body": "Look:\n\n" + data["markdown"]},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    page = member.get(response["Location"], HTTP_HOST=host("acme"))
    assert f'<img src="{data["url"]}" alt="chart.png">' in page.content.decode()
    assert "img-src 'self'" in page["Content-Security-Policy"]
    with tenant_context(acme):
        post = Post.objects.get()
        assert Attachment.objects.get().post_id == post.pk  # claimed by the post


def test_an_upload_is_claimed_only_by_the_member_who_uploaded_it(
    acme, member, make_member, sign_in
):
    data = upload(member, "plan.png", png()).json()  # uploaded by the admin, not posted yet
    make_member(acme, "nora@acme.example")
    other = Client()
    sign_in(other, acme, "nora@acme.example")
    response = other.post(
        "/posts/new/",
        {"title": "Mine now", "body": data["markdown"]},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    with tenant_context(acme):
        assert Attachment.objects.get().post_id is None  # still the uploader's to post


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("page.png", b"<html><script>alert(1)</script></html>", "text/plain; charset=utf-8"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', None),
        ("report.pdf", PDF, "application/pdf"),
    ],
)
def test_everything_but_a_plain_image_is_a_download(acme, member, name, content, content_type):
    data = upload(member, name, content, content_type="image/png").json()
    assert data["image"] is False and data["markdown"].startswith(f"[{name}](")
    served = member.get(data["url"], HTTP_HOST=host("acme"))
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Type"] == (content_type or "text/plain; charset=utf-8")
    assert not served["Content-Type"].startswith(("image/svg", "text/html"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tool.png", ELF, "“tool.png” cannot be attached (it looks like application/x-executable)"),
        (
            "blob.bin",
            b"\x00\x01\x02\xfe" * 100,
            "“blob.bin” cannot be attached. Quire takes images",
        ),
        ("empty.txt", b"", "“empty.txt” is empty."),
    ],
)
def test_refused_types_get_a_clear_error_and_store_nothing(acme, member, name, content, message):
    response = upload(member, name, content)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert stored_files() == []
    with tenant_context(acme):
        assert not Attachment.objects.exists()


def test_a_file_over_the_size_limit_is_refused(acme, member, settings):
    settings.QUIRE_MAX_UPLOAD_BYTES = 100 * 1024
    response = upload(member, "big.pdf", PDF + b"0" * 200 * 1024)
    assert response.status_code == 400
    assert response.json()["error"] == ("“big.pdf” is 200 KB; attachments can be at most 100 KB.")


def test_a_member_may_send_more_than_the_form_limit_with_files_an_anonymous_post_may_not(
    acme, member
):
    big = PDF + b"0" * (2 * 1024 * 1024)  # over QUIRE_MAX_REQUEST_KB (1 MiB)
    assert upload(member, "big.pdf", big).status_code == 201
    assert upload(Client(), "big.pdf", big).status_code == 413


def test_files_count_in_the_storage_cap(acme, member):
    upload(member, "a.pdf", PDF + b"1" * 50_000)
    used = storage_bytes("acme")
    assert used is not None and stored_bytes("acme") == len(PDF) + 50_000
    assert used >= stored_bytes("acme") + 4096  # the database file too
    acme.max_db_bytes = used + 10_000
    acme.save(update_fields=["max_db_bytes"])
    response = upload(member, "b.pdf", PDF + b"2" * 20_000)
    assert response.status_code == 400
    assert response.json()["error"].startswith("The workspace's storage is full:")
    assert len(stored_files()) == 1


def test_only_members_of_the_workspace_get_a_file(acme, member, make_tenant, sign_in):
    data = upload(member, "chart.png", png()).json()
    assert Client().get(data["url"], HTTP_HOST=host("acme")).status_code == 404
    beta = make_tenant("beta")
    outsider = Client()
    sign_in(outsider, beta)
    assert outsider.get(data["url"], HTTP_HOST=host("acme")).status_code == 404
    assert outsider.get(data["url"], HTTP_HOST=host("beta")).status_code == 404
    assert upload(Client(), "x.png", png()).status_code == 404
    assert member.get("/attachments/999/chart.png", HTTP_HOST=host("acme")).status_code == 404


def test_the_form_takes_files_without_script(acme, member):
    response = member.post(
        "/posts/new/",
        {
            "title": "Photos",
            "body": "From the offsite.",
            "attachments": [
                SimpleUploadedFile("beach.png", png()),
                SimpleUploadedFile("agenda.pdf", PDF),
            ],
        },
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 302
    with tenant_context(acme):
        post = Post.objects.get()
        first, second = Attachment.objects.order_by("pk")
        assert post.body == (
            "From the offsite.\n\n"
            f"![beach.png](</attachments/{first.pk}/beach.png>)\n\n"
            f"[agenda.pdf](</attachments/{second.pk}/agenda.pdf>)"
        )
        assert {first.post_id, second.post_id} == {post.pk}
    assert f'<img src="/attachments/{first.pk}/beach.png"' in post.body_html


def test_a_refused_file_in_the_form_keeps_the_text_and_says_why(acme, member):
    response = member.post(
        "/posts/new/",
        {"title": "Tool", "body": "Here", "attachments": [SimpleUploadedFile("t.png", ELF)]},
        HTTP_HOST=host("acme"),
    )
    assert response.status_code == 200
    assert "“t.png” cannot be attached" in response.content.decode()
    with tenant_context(acme):
        assert not Post.objects.exists()


def test_deleting_a_post_deletes_its_files(acme, member):
    data = upload(member, "chart.png", png()).json()
    member.post("/posts/new/", {"title": "C", "body": data["markdown"]}, HTTP_HOST=host("acme"))
    assert len(stored_files()) == 1
    with tenant_context(acme):
        post_delete(post=Post.objects.get(), user=User.objects.get(email=admin_email("acme")))
        assert not Attachment.objects.exists()
    assert stored_files() == []


def test_a_deleted_workspace_takes_its_files_to_the_trash(acme, member):
    upload(member, "chart.png", png())
    folder = tenant_delete(tenant=acme)
    assert folder is not None and folder.parent == trash_dir()
    assert not media_dir("acme").exists()
    trashed = [p for p in (folder / "files").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in trashed] == [png()]
    assert (folder / "acme.sqlite3").exists()


def test_a_hard_deleted_workspace_leaves_no_files(acme, member):
    upload(member, "chart.png", png())
    tenant_delete(tenant=acme, hard=True)
    assert not media_dir("acme").exists()


def test_a_renamed_workspace_keeps_its_files(acme, member, sign_in):
    data = upload(member, "chart.png", png()).json()
    renamed = tenant_rename(tenant=acme, new_slug="acme-co")
    assert not media_dir("acme").exists() and len(stored_files("acme-co")) == 1
    client = Client()
    with tenant_context(renamed):
        client.force_login(User.objects.get(email=admin_email("acme")))
    served = client.get(data["url"], HTTP_HOST=host("acme-co"))
    assert served.status_code == 200 and b"".join(served.streaming_content) == png()


@pytest.mark.parametrize("command", [["backup_tenant"], ["export_tenant", "--format", "sql"]])
def test_backups_and_exports_carry_the_files_and_restores_bring_them_back(
    acme, member, tmp_path, command
):
    from io import StringIO

    from django.core.management import call_command

    from apps.tenancy.fleet.services import tenant_restore

    data = upload(member, "chart.png", png()).json()
    output = tmp_path / "acme-backup.db"
    out = StringIO()
    call_command(*command, "acme", "-o", str(output), stdout=out)
    assert f"stored files (attachments) are in {output}.files" in out.getvalue()
    copies = [p for p in Path(f"{output}.files").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in copies] == [png()]

    restored = tenant_restore(slug="copy", source=output).tenant  # a new workspace
    assert [p.read_bytes() for p in stored_files("copy")] == [png()]
    client = Client()
    with tenant_context(restored):
        client.force_login(User.objects.get(email=admin_email("acme")))
    served = client.get(data["url"], HTTP_HOST=host("copy"))
    assert b"".join(served.streaming_content) == png()

    for path in stored_files("acme"):  # in place: the backup's files replace the current ones
        path.write_bytes(b"changed")
    result = tenant_restore(slug="acme", source=output)
    assert [p.read_bytes() for p in stored_files("acme")] == [png()]
    kept = [p for p in (result.replaced / "files").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in kept] == [b"changed"]


def test_an_attachment_deleted_in_the_admin_takes_its_file(acme, member):
    data = upload(member, "chart.png", png()).json()
    response = member.post(
        f"/admin/posts/attachment/{data['id']}/delete/", {"post": "yes"}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 302
    assert stored_files() == []
    with tenant_context(acme):
        assert not Attachment.objects.exists()
