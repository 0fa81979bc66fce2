from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.accounts.services import HandoffInvalid, handoff_user_consume
from apps.tenancy.context import require_current_tenant


def welcome(request: HttpRequest, token: str) -> HttpResponse:
    """Sign in the new admin arriving from the sign-up form."""
    tenant = require_current_tenant()
    try:
        user = handoff_user_consume(token=token, tenant_slug=tenant.slug)
    except HandoffInvalid as exc:
        return render(request, "accounts/handoff_invalid.html", {"reason": str(exc)}, status=400)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome to {tenant.name}! Your workspace is ready.")
    return redirect("posts:list")
