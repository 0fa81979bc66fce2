from __future__ import annotations

import shutil

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.views import admin_required
from apps.tenancy.context import require_current_tenant
from apps.tenancy.services import tenant_update_name
from apps.workspace.forms import DeleteForm, RenameForm
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
    return render(request, "workspace/settings.html", {"form": form, "delete_form": delete_form})


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
        context = {"form": rename, "delete_form": form}
        return render(request, "workspace/settings.html", context, status=400)
    workspace_delete()
    return render(request, "workspace/deleted.html", {"name": tenant.name, "hide_nav": True})


def _file_stem() -> str:
    return f"{require_current_tenant().slug}-{timezone.now():%Y%m%d-%H%M}"
