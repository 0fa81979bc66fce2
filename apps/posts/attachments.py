"""Files attached to posts and comments: checked, stored in the workspace's folder, counted.

A file's type is sniffed from its first bytes (``filetype``), never taken from its name
or the browser's word. Images of the types every browser shows (PNG, JPEG, GIF, WebP)
are shown inline; everything else, SVG included (it is text to us), is downloaded.
Files count in the workspace's storage, with its database, against its storage cap.
"""

from __future__ import annotations

import re
import secrets
from pathlib import PurePath

import filetype
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.text import get_valid_filename

from apps.accounts.models import User
from apps.posts.models import Attachment, Comment, Post
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.metering import storage_bytes
from apps.tenancy.routing import work
from apps.tenancy.routing.context import require_current_tenant

INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Kept as downloads: documents, archives, media. Executables and unknown binaries are refused.
DOWNLOAD_TYPES = frozenset(
    {
        "application/pdf",
        "application/rtf",
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "application/x-7z-compressed",
        "application/x-xz",
        "application/x-bzip2",
        "application/epub+zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "image/avif",
        "image/bmp",
        "image/heic",
        "image/tiff",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/x-wav",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }
)
TEXT_TYPE = "text/plain"
SNIFF_BYTES = 8192
LINK_RE = re.compile(r"/attachments/(\d+)/")


class AttachmentRefused(ApplicationError):
    """A file is too large, of a type Quire does not take, or beyond the storage cap."""


def max_upload_bytes() -> int:
    """Return the largest file a member may attach (QUIRE_MAX_UPLOAD_MB)."""
    return int(settings.QUIRE_MAX_UPLOAD_BYTES)


def sniff(head: bytes) -> str | None:
    """Return the type of a file from its first bytes, ``text/plain`` for UTF-8 text, or None."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if not head or b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return None
    return TEXT_TYPE


def clean_name(name: str) -> str:
    """Return a safe file name (no folders, no odd characters), at most 100 characters."""
    base = PurePath(name.replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except Exception:
        cleaned = ""
    stem, dot, extension = cleaned.rpartition(".")
    if dot and len(extension) <= 10:
        return f"{stem[: 99 - len(extension)]}.{extension}" if stem else f"file.{extension}"
    return cleaned[:100] or "file"


def check_upload(*, name: str, size: int, head: bytes) -> str:
    """Return the sniffed content type of an upload, or raise ``AttachmentRefused``."""
    limit = max_upload_bytes()
    if size > limit:
        raise AttachmentRefused(
            f"“{name}” is {_megabytes(size)}; attachments can be at most {_megabytes(limit)}."
        )
    if size == 0:
        raise AttachmentRefused(f"“{name}” is empty.")
    content_type = sniff(head)
    if content_type is None or not (
        content_type in INLINE_IMAGE_TYPES
        or content_type in DOWNLOAD_TYPES
        or content_type == TEXT_TYPE
    ):
        found = f" (it looks like {content_type})" if content_type else ""
        raise AttachmentRefused(
            f"“{name}” cannot be attached{found}. Quire takes images (PNG, JPEG, GIF, WebP), "
            "PDFs, text, office documents, archives, audio and video."
        )
    return content_type


def check_storage(*, size: int) -> None:
    """Refuse a file that would take the workspace past its storage cap."""
    tenant = require_current_tenant()
    cap = tenant.storage_cap
    used = storage_bytes(tenant.slug) or 0
    if used + size > cap:
        raise AttachmentRefused(
            f"The workspace's storage is full: {_megabytes(used)} of {_megabytes(cap)} used, "
            f"and this file needs {_megabytes(size)}. Delete posts with large attachments, "
            "or ask for a larger plan."
        )


def attachment_create(*, uploader: User, upload: File) -> Attachment:  # type: ignore[type-arg]
    """Check and store an uploaded file; return its attachment, not yet on any post."""
    name = clean_name(str(upload.name or "file"))
    size = int(upload.size or 0)
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    content_type = check_upload(name=name, size=size, head=head)
    check_storage(size=size)
    extension = PurePath(name).suffix.lower()[:11]
    attachment = Attachment(uploader=uploader, name=name, content_type=content_type, size=size)
    attachment.file.save(secrets.token_hex(12) + extension, upload, save=False)
    stored = attachment.file.name
    try:
        with work.atomic():
            attachment.save()
    except BaseException:
        default_storage.delete(stored)
        raise
    return attachment


def attachment_get(*, pk: int) -> Attachment | None:
    """Return the attachment with this id in the current workspace, or None."""
    return Attachment.objects.filter(pk=pk).first()


def attachment_url(attachment: Attachment) -> str:
    """Return the path the workspace serves this attachment at."""
    return reverse("posts:attachment", args=[attachment.pk, attachment.name])


def attachment_markdown(attachment: Attachment) -> str:
    """Return the Markdown that shows an image inline, or links to a file."""
    label = attachment.name.replace("[", "(").replace("]", ")")
    link = f"[{label}](<{attachment_url(attachment)}>)"
    return "!" + link if attachment.is_image else link


def attachments_claim(
    *, body: str, uploader: User, post: Post, comment: Comment | None = None
) -> int:
    """Give the unclaimed attachments its writer uploaded and a text links to, to its post.

    (And comment.) Another member's upload that is not posted yet stays theirs.
    """
    ids = {int(found) for found in LINK_RE.findall(body)}
    if not ids:
        return 0
    unclaimed = Attachment.objects.filter(
        pk__in=ids, uploader=uploader, post__isnull=True, comment__isnull=True
    )
    return unclaimed.update(post=post, comment=comment)


def attachments_delete(*, post: Post | None = None, comment: Comment | None = None) -> None:
    """Delete the attachments of a post (its comments' too) or of a comment, files included."""
    found = (
        Attachment.objects.filter(comment=comment)
        if comment
        else Attachment.objects.filter(post=post)
    )
    attachment_rows_delete(found)


def attachment_rows_delete(found: QuerySet[Attachment]) -> None:
    """Delete these attachments and, once that commits, their files."""
    names = list(found.values_list("file", flat=True))
    found.delete()

    def remove_files() -> None:
        for name in names:
            default_storage.delete(name)

    work.on_commit(remove_files)


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
