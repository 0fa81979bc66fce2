"""A way back from a deleted workspace, for its admins, within the trash period.

Deleting a workspace shows its admin, and e-mails every admin, a link to the main site
(the workspace's own host answers 404 once it is deleted) signed with Django's signing,
salted per workspace id and valid for the trash period. The page there asks for a
confirmation and posts to itself; the POST brings the workspace back and sends the admin
to its sign-in page.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django_tasks import task

from apps.accounts.ratelimit import window_hit
from apps.core.clientaddress import client_address
from apps.core.validators import one_line
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.services import tenant_undelete
from apps.tenancy.models import Tenant
from apps.tenancy.routing.urls import public_url, tenant_url


class LinkRefused(Exception):
    """The link is tampered with, expired, or its workspace can no longer come back."""


def _salt(tenant_id: int) -> str:
    return f"quire.undelete.{tenant_id}"


def undelete_url(tenant: Tenant) -> str:
    """Return the signed main-site link that brings this deleted workspace back."""
    stamp = tenant.deleted_at.isoformat() if tenant.deleted_at else ""
    token = signing.dumps({"slug": tenant.slug, "deleted": stamp}, salt=_salt(tenant.pk))
    path = reverse("onboarding:undelete", urlconf="config.urls_public", args=[tenant.pk, token])
    return public_url(path)


def _linked_tenant(tenant_id: int, token: str) -> Tenant:
    max_age = timedelta(days=settings.TENANT_TRASH_RETENTION_DAYS)
    try:
        data = signing.loads(token, salt=_salt(tenant_id), max_age=max_age)
    except signing.SignatureExpired:
        raise LinkRefused("This link has expired: the workspace's trash period is over.") from None
    except signing.BadSignature:
        raise LinkRefused("This link is not valid. Copy the whole link from the e-mail.") from None
    tenant = Tenant.objects.filter(pk=tenant_id, slug=data.get("slug")).first()
    if tenant is None:
        raise LinkRefused("This workspace no longer exists: its trash period is over.")
    stamp = tenant.deleted_at.isoformat() if tenant.deleted_at else ""
    if tenant.status != Tenant.Status.DELETED or stamp != data.get("deleted"):
        raise LinkRefused(f"{tenant.name} is not deleted any more: this link was used already.")
    return tenant


def _allowed(request: HttpRequest) -> bool:
    """Count a POST from this client address; False past the sign-in limits.

    A link is as good as a password for the workspace it names: guessing one is throttled
    like guessing a password (QUIRE_LOGIN_ATTEMPTS per QUIRE_LOGIN_WINDOW_SECONDS).
    """
    address = client_address(request)
    hits = window_hit(f"undelete:{address}", settings.QUIRE_LOGIN_WINDOW_SECONDS)
    return hits <= settings.QUIRE_LOGIN_ATTEMPTS


def _throttled(request: HttpRequest) -> HttpResponse:
    window = settings.QUIRE_LOGIN_WINDOW_SECONDS
    minutes = max(1, window // 60)
    message = f"Too many attempts from your address; try again in {minutes} minute(s)."
    response = render(request, "onboarding/undelete.html", {"refused": message}, status=429)
    response["Retry-After"] = str(window)
    return response


def undelete_view(request: HttpRequest, tenant_id: int, token: str) -> HttpResponse:
    """Confirm (GET) and bring back (POST) a deleted workspace from a signed link."""
    if request.method == "POST" and not _allowed(request):
        return _throttled(request)
    try:
        tenant = _linked_tenant(tenant_id, token)
    except LinkRefused as exc:
        return render(request, "onboarding/undelete.html", {"refused": str(exc)}, status=410)
    context = {"tenant": tenant, "days": settings.TENANT_TRASH_RETENTION_DAYS}
    if request.method == "POST":
        try:
            tenant_undelete(tenant=tenant)
        except ApplicationError as exc:
            context["error"] = str(exc)
            return render(request, "onboarding/undelete.html", context, status=409)
        return redirect(tenant_url(tenant.slug, "/login/"))
    return render(request, "onboarding/undelete.html", context)


@task()
def deleted_mail_send(*, subject: str, body: str, to: list[str]) -> None:
    """Send the deletion notice; not a workspace job (those are dropped once it is deleted)."""
    EmailMessage(subject=subject, body=body, to=to).send()


def deleted_notice_enqueue(*, tenant: Tenant, admin_emails: list[str]) -> None:
    """Queue the e-mail telling a deleted workspace's admins how to bring it back."""
    if not admin_emails:
        return
    context = {
        "name": tenant.name,
        "slug": tenant.slug,
        "days": settings.TENANT_TRASH_RETENTION_DAYS,
        "undelete_url": undelete_url(tenant),
    }
    deleted_mail_send.using(queue_name=settings.QUIRE_NODE_ID).enqueue(
        subject=one_line(f"{tenant.name} was deleted"),
        body=render_to_string("onboarding/email/deleted.txt", context),
        to=admin_emails,
    )
