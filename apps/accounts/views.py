from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from apps.accounts.forms import (
    AcceptInvitationForm,
    AvatarForm,
    EmailChangeForm,
    InviteForm,
    ProfileForm,
    QueuedPasswordResetForm,
    RoleForm,
)
from apps.accounts.models import Invitation, User
from apps.accounts.ratelimit import mail_allowed, too_many_emails
from apps.accounts.selectors import (
    invitation_get,
    invitation_pending_list,
    local_now,
    member_directory,
    member_get,
    member_list,
    member_recent_posts,
)
from apps.accounts.services import (
    AVATAR_TYPES,
    EMAIL_CHANGE_DAYS,
    AvatarInvalid,
    EmailChangeInvalid,
    HandoffInvalid,
    InvitationInvalid,
    MemberError,
    email_change_confirm,
    email_change_request,
    handoff_user_consume,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_resend,
    invitation_revoke,
    invitation_token,
    member_deactivate,
    member_reactivate,
    member_set_avatar,
    member_set_role,
    member_update_profile,
)
from apps.notifications.mentions import handles
from apps.notifications.services import digest_schedule_ensure
from apps.posts import pagecache
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.urls import tenant_url

BACKEND = "apps.accounts.ratelimit.SignInThrottleBackend"
INVITE_LINK_KEY = "quire.invite_link"


def admin_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Let only the workspace's admins in; others get the 403 page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not cast(User, request.user).is_workspace_admin:
            raise PermissionDenied("Only workspace admins can do this.")
        return view(request, *args, **kwargs)

    return wrapped


class LoginView(auth_views.LoginView):
    """Django's sign-in; the authentication backend throttles guesses (ratelimit)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        """Return the safe ?next= target, never the sign-in page itself (a loop)."""
        target: str = super().get_redirect_url()
        if target and urlsplit(target).path == self.request.path:
            return ""
        return target


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset by e-mail, limited per client and per address, with links
    built from the QUIRE_URL_* settings rather than the request's Host."""

    template_name = "accounts/password_form.html"
    form_class = QueuedPasswordResetForm
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        email = form.cleaned_data["email"]
        if not mail_allowed(request=self.request, recipient=email, purpose="password-reset"):
            return too_many_emails(self.request)
        tenant = require_current_tenant()
        self.extra_email_context = {
            "workspace_url": tenant_url(tenant.slug, ""),
            "workspace_name": tenant.name,
        }
        response: HttpResponse = super().form_valid(form)
        return response


def welcome(request: HttpRequest, token: str) -> HttpResponse:
    """Sign in the new admin arriving from the sign-up form."""
    tenant = require_current_tenant()
    try:
        user = handoff_user_consume(token=token, tenant_slug=tenant.slug)
    except HandoffInvalid as exc:
        return render(request, "accounts/link_invalid.html", {"reason": str(exc)}, status=400)
    login(request, user, backend=BACKEND)
    messages.success(request, f"Welcome to {tenant.name}! Your workspace is ready.")
    return redirect("posts:list")


@admin_required
def members(request: HttpRequest) -> HttpResponse:
    """List members and pending invitations; invite someone."""
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        links: list[str] = []

        def accept_url(token: str) -> str:
            links.append(_accept_url(token))
            return links[-1]

        try:
            invitation = invitation_create(
                invited_by=cast(User, request.user),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                accept_url=accept_url,
            )
        except MemberError as exc:
            form.add_error("email", str(exc))
        else:
            # Shown once on the next page, so the admin can pass it on if the e-mail fails.
            request.session[INVITE_LINK_KEY] = {"email": invitation.email, "link": links[-1]}
            messages.success(
                request, f"Invitation saved; the e-mail to {invitation.email} is on its way."
            )
            return redirect("accounts:members")
    viewer = cast(User, request.user)
    context = {
        # The same for every admin but for their own row (no "Deactivate" there).
        "members_table": pagecache.fragment(
            request,
            "members",
            (viewer.pk,),
            "accounts/parts/members.html",
            lambda: {"members": list(member_list()), "roles": User.Role.choices, "user": viewer},
        ),
        # They expire with time, not with a write; each with its link to copy.
        "invitations": [
            (invitation, _link_or_none(invitation)) for invitation in invitation_pending_list()
        ],
        "form": form,
        "form_html": None if form.is_bound else pagecache.blank_form(request, "invite", InviteForm),
        "invite_link": request.session.pop(INVITE_LINK_KEY, None),
    }
    return render(request, "accounts/members.html", context)


@admin_required
def invitation_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then withdraw a pending invitation (its link stops working)."""
    invitation = invitation_get(pk=pk)
    if invitation is None:
        raise Http404("No such invitation.")
    if request.method != "POST":
        return confirm_page(
            request,
            title=f"Revoke the invitation for {invitation.email}?",
            text="Its link stops working. You can invite them again later.",
            button="Revoke invitation",
            cancel=reverse("accounts:members"),
        )
    invitation_revoke(invitation=invitation)
    messages.success(request, f"Invitation for {invitation.email} withdrawn.")
    return redirect("accounts:members")


@admin_required
@require_POST
def invitation_send_again(request: HttpRequest, pk: int) -> HttpResponse:
    """Give a pending invitation a new link, e-mail it again and show it once more."""
    invitation = invitation_get(pk=pk)
    if invitation is None:
        raise Http404("No such invitation.")
    if not mail_allowed(request=request, recipient=invitation.email, purpose="invitation"):
        return too_many_emails(request)
    try:
        invitation_resend(
            invitation=invitation,
            sent_by=cast(User, request.user),
            accept_url=_accept_url,
        )
    except MemberError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"New link made; the e-mail to {invitation.email} is on its way. "
            "The old link no longer works.",
        )
    return redirect("accounts:members")


def _accept_url(token: str) -> str:
    return tenant_url(require_current_tenant().slug, reverse("accounts:invitation", args=[token]))


def confirm_page(
    request: HttpRequest, *, title: str, text: str, button: str, cancel: str
) -> HttpResponse:
    """Ask before a destructive action; the form posts back to the same address."""
    context = {"title": title, "text": text, "button": button, "cancel": cancel}
    return render(request, "confirm.html", context)


@admin_required
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = _member(pk)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            member_set_role(member=member, role=form.cleaned_data["role"])
        except MemberError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{member} is now {member.get_role_display().lower()}.")
    return redirect("accounts:members")


@admin_required
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then deactivate a member: they are signed out and cannot sign in."""
    member = _member(pk)
    if request.method != "POST":
        return confirm_page(
            request,
            title=f"Deactivate {member}?",
            text=(
                "They are signed out everywhere and can no longer sign in. Their posts and "
                "comments stay. You can reactivate them later."
            ),
            button="Deactivate",
            cancel=reverse("accounts:members"),
        )
    try:
        member_deactivate(member=member)
    except MemberError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{member} was deactivated and signed out.")
    return redirect("accounts:members")


@admin_required
@require_POST
def member_restore(request: HttpRequest, pk: int) -> HttpResponse:
    """Let a deactivated member sign in again."""
    member = _member(pk)
    member_reactivate(member=member)
    messages.success(request, f"{member} can sign in again.")
    return redirect("accounts:members")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Accept an invitation: choose a name and password, then land signed in."""
    try:
        pending = invitation_for_token(token=token)
    except InvitationInvalid as exc:
        return render(request, "accounts/link_invalid.html", {"reason": str(exc)}, status=400)
    form = AcceptInvitationForm(request.POST or None, email=pending.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = invitation_accept(
                token=token,
                first_name=data["first_name"],
                last_name=data["last_name"],
                password=data["password1"],
            )
        except InvitationInvalid as exc:
            return render(request, "accounts/link_invalid.html", {"reason": str(exc)}, status=400)
        login(request, user, backend=BACKEND)
        messages.success(request, f"Welcome to {require_current_tenant().name}!")
        return redirect("posts:list")
    return render(request, "accounts/invitation.html", {"form": form, "invitation": pending})


def _link_or_none(invitation: Invitation) -> str | None:
    token = invitation_token(invitation=invitation)
    return None if token is None else _accept_url(token)


def _member(pk: int) -> User:
    member = member_get(pk=pk)
    if member is None:
        raise Http404("No such member.")
    return member


# The member's own account, and the people of the workspace ---------------------------


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show and save the member's name, picture, time zone, notifications and e-mail."""
    me = cast(User, request.user)
    which = request.POST.get("form") if request.method == "POST" else None
    profile = ProfileForm.for_member(me, request.POST if which == "profile" else None)
    avatar = (
        AvatarForm(request.POST or None, request.FILES or None)
        if which == "avatar"
        else AvatarForm()
    )
    email = EmailChangeForm(request.POST if which == "email" else None, member=me)
    if which == "profile" and profile.is_valid():
        member_update_profile(member=me, **profile.cleaned_data)
        if me.notify_posts == User.PostMail.DAILY:
            digest_schedule_ensure()
        messages.success(request, "Your account is saved.")
        return redirect("accounts:account")
    if which == "avatar" and avatar.is_valid():
        try:
            member_set_avatar(member=me, upload=avatar.cleaned_data["picture"] or None)
        except AvatarInvalid as exc:
            avatar.add_error("picture", str(exc))
        else:
            messages.success(request, "Your picture is saved.")
            return redirect("accounts:account")
    if which == "email" and email.is_valid() and (answer := _email_change(request, me, email)):
        return answer
    context = {"profile": profile, "avatar": avatar, "email_form": email, "me": me}
    return render(request, "accounts/account.html", context, status=400 if which else 200)


def _email_change(request: HttpRequest, me: User, form: EmailChangeForm) -> HttpResponse | None:
    """Send the confirmation link; return where to go, or None to show the form's errors."""
    new_email = form.cleaned_data["new_email"]
    if not mail_allowed(request=request, recipient=new_email, purpose="email-change"):
        return too_many_emails(request)

    def confirm_url(token: str) -> str:
        path = reverse("accounts:email_confirm", args=[token])
        return tenant_url(require_current_tenant().slug, path)

    try:
        email_change_request(member=me, new_email=new_email, confirm_url=confirm_url)
    except MemberError as exc:
        form.add_error("new_email", str(exc))
        return None
    messages.success(
        request,
        f"We sent a link to {new_email}. Your address changes when you open it "
        f"(within {EMAIL_CHANGE_DAYS} days).",
    )
    return redirect("accounts:account")


def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Move a member to the new address their confirmation link names."""
    try:
        member = email_change_confirm(token=token)
    except EmailChangeInvalid as exc:
        return render(request, "accounts/link_invalid.html", {"reason": str(exc)}, status=400)
    messages.success(request, f"Your e-mail address is now {member.email}.")
    if request.user.is_authenticated:
        return redirect("accounts:account")
    return redirect("accounts:login")


@login_required
def people(request: HttpRequest) -> HttpResponse:
    """List the workspace's active members: picture, name, role, local time."""
    everyone = list(member_directory())
    return render(
        request, "accounts/people.html", {"people": everyone, "example": _handle_of(everyone)}
    )


def _handle_of(everyone: list[User]) -> str:
    """Return a word that mentions the first member listed (their first name if it does)."""
    if not everyone:
        return "name"
    names = handles(everyone)  # the active members, already read
    first = everyone[0]
    for word in (first.first_name, first.email.split("@", 1)[0]):
        if word and names.get(word.lower()) == first.pk:
            return word
    return "name"


@login_required
def person(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one member: name, picture, role, e-mail, local time and latest posts."""
    found = member_get(pk=pk)
    if found is None:
        raise Http404("No such member.")
    local = local_now(found)
    return render(
        request,
        "accounts/person.html",
        {
            "person": found,
            "posts": member_recent_posts(member=found),
            # Formatted here: a template would show a datetime in the viewer's zone.
            "local_time": f"{local:%H:%M}",
            "local_zone": str(local.tzinfo),
        },
    )


@login_required
def avatar_image(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Serve a member's picture to the workspace's members, from the workspace's folder."""
    found = member_get(pk=pk)
    if found is None or not found.avatar:
        raise Http404("No picture.")
    kind = found.avatar.name.rsplit(".", 1)[-1]
    try:
        handle = found.avatar.open("rb")
    except FileNotFoundError:
        raise Http404("No picture.") from None
    response = FileResponse(handle, content_type=AVATAR_TYPES.get(kind, "application/octet-stream"))
    response["X-Content-Type-Options"] = "nosniff"
    return response
