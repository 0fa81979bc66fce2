from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.accounts.ratelimit import mail_allowed, too_many_emails
from apps.onboarding.forms import SignupForm, WorkspaceFinderForm
from apps.onboarding.services import workspace_signup
from apps.tenancy.exceptions import InvalidSlug, SlugTaken
from apps.tenancy.routing.urls import tenant_url


def landing(request: HttpRequest) -> HttpResponse:
    """Show what Quire is, with a way in for new and existing customers."""
    form = WorkspaceFinderForm(request.GET or None)
    if request.GET and form.is_valid():
        return redirect(tenant_url(form.cleaned_data["workspace"], "/login/"))
    return render(request, "onboarding/landing.html", {"finder": form})


def signup(request: HttpRequest) -> HttpResponse:
    """Create a workspace and send its admin there, signed in."""
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if not mail_allowed(request=request, recipient=data["email"], purpose="signup"):
            return too_many_emails(request)
        try:
            tenant, token = workspace_signup(
                name=data["name"],
                slug=data["subdomain"],
                email=data["email"],
                password=data["password"],
                admin_name=data["your_name"],
            )
        except (SlugTaken, InvalidSlug) as exc:
            form.add_error("subdomain", str(exc))
        else:
            path = reverse("accounts:welcome", urlconf="config.urls", args=[token])
            return redirect(tenant_url(tenant.slug, path))
    return render(request, "onboarding/signup.html", {"form": form})
