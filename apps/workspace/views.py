from __future__ import annotations

import shutil

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.models import User
from apps.accounts.views import admin_required
from apps.onboarding.undelete import deleted_notice_enqueue, undelete_url
from apps.sqlapi.selectors import database_path_url, database_url, refused_attempts, token_list
from apps.sqlapi.services import TokenError, token_create, token_revoke
from apps.tenancy.fleet.services import tenant_update_name
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import require_current_tenant
from apps.workspace.forms import DatabaseTokenForm, DeleteForm, RenameForm
from apps.workspace.services import (
    workspace_delete,
    workspace_export_json,
    workspace_export_sqlite,
)


@admin_required
def settings_view(request: HttpRequest) -> HttpResponse:
    """Rename the workspace; links to export and delete."""
    tenant = require_current_tenant()
    form = RenameForm(request.POST or None, initial={"name": tenant.name})
    if request.method == "POST" and form.is_valid():
        tenant_update_name(tenant=tenant, name=form.cleaned_data["name"])
        messages.success(request, "Workspace renamed.")
        return redirect("workspace:settings")
    delete_form = DeleteForm(slug=tenant.slug)
    context = {"form": form, "delete_form": delete_form, **database_context(tenant)}
    return render(request, "workspace/settings.html", context)


@admin_required
def export_json(request: HttpRequest) -> JsonResponse:
    """Download the workspace's content as JSON."""
    response = JsonResponse(workspace_export_json(), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{_file_stem()}.json"'
    return response


@admin_required
def export_sqlite(request: HttpRequest) -> FileResponse:
    """Download a consistent snapshot of the workspace's SQLite database."""
    path = workspace_export_sqlite()
    handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    shutil.rmtree(path.parent)  # the open handle keeps the data readable
    return FileResponse(handle, as_attachment=True, filename=f"{_file_stem()}.sqlite3")


@admin_required
@require_POST
def delete(request: HttpRequest) -> HttpResponse:
    """Delete the workspace after the admin typed its subdomain."""
    tenant = require_current_tenant()
    form = DeleteForm(request.POST, slug=tenant.slug)
    if not form.is_valid():
        rename = RenameForm(initial={"name": tenant.name})
        context = {"form": rename, "delete_form": form, **database_context(tenant)}
        return render(request, "workspace/settings.html", context, status=400)
    admins = list(
        User.objects.filter(role=User.Role.ADMIN, is_active=True).values_list("email", flat=True)
    )
    workspace_delete()
    tenant.refresh_from_db()  # the catalog's deletion time is the one the link carries
    deleted_notice_enqueue(tenant=tenant, admin_emails=admins)
    context = {
        "name": tenant.name,
        "slug": tenant.slug,
        "days": settings.TENANT_TRASH_RETENTION_DAYS,
        "subject": f"Please restore the deleted workspace {tenant.slug}",
        "undelete_url": undelete_url(tenant),
        "hide_nav": True,
    }
    return render(request, "workspace/deleted.html", context)


# Database tokens (the workspace's database over HTTP) ---------------------------------


def database_context(
    tenant: Tenant, *, token_form: DatabaseTokenForm | None = None
) -> dict[str, object]:
    """Return what the settings page shows about the workspace's database over HTTP."""
    return {
        "database_url": database_url(tenant.slug),
        "database_path_url": database_path_url(tenant.slug),
        "database_tokens": token_list(tenant=tenant),
        "database_refused": refused_attempts(tenant=tenant),
        "token_form": token_form or DatabaseTokenForm(),
    }


@admin_required
@require_POST
def token_new(request: HttpRequest) -> HttpResponse:
    """Create a database token and show its secret, this once."""
    tenant = require_current_tenant()
    token_form = DatabaseTokenForm(request.POST)
    new_token = None
    if token_form.is_valid():
        data = token_form.cleaned_data
        try:
            _token, new_token = token_create(
                tenant=tenant,
                name=data["name"],
                read_only=data["access"] == "read",
                expires_days=int(data["expires"]) if data["expires"] else None,
                created_by=request.user.email,  # type: ignore[union-attr]
            )
        except TokenError as exc:
            token_form.add_error("name", str(exc))
    context = {
        "form": RenameForm(initial={"name": tenant.name}),
        "delete_form": DeleteForm(slug=tenant.slug),
        **database_context(tenant, token_form=None if new_token else token_form),
        "new_token": new_token,
    }
    response = render(request, "workspace/settings.html", context, status=200 if new_token else 400)
    response["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@admin_required
@require_POST
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a database token; it stops working at once."""
    tenant = require_current_tenant()
    token = next((token for token in token_list(tenant=tenant) if token.pk == pk), None)
    if token is None:
        messages.error(request, "That token does not exist or was revoked already.")
    else:
        token_revoke(tenant=tenant, name=token.name)
        messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("workspace:settings")


def _file_stem() -> str:
    return f"{require_current_tenant().slug}-{timezone.now():%Y%m%d-%H%M}"
