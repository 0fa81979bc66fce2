"""Unsubscribe links: they work without signing in (the signed token is the key)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.notifications.services import member_resubscribe, member_unsubscribe
from apps.notifications.tokens import KINDS, UnsubscribeInvalid, unsubscribe_read


# Mail clients send RFC 8058's one-click POST without any cookie or CSRF token: the signed
# token in the address is what proves the request.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: ask with one button (link scanners open links); POST: turn the e-mails off."""
    try:
        wanted = unsubscribe_read(token)
    except UnsubscribeInvalid as exc:
        return render(request, "notifications/unsubscribe.html", {"error": str(exc)}, status=400)
    context = {"what": KINDS[wanted.kind], "kind": wanted.kind, "token": token}
    if request.method != "POST":
        return render(request, "notifications/unsubscribe.html", {**context, "state": "ask"})
    again = request.POST.get("action") == "resubscribe"
    member = (member_resubscribe if again else member_unsubscribe)(unsubscribe=wanted)
    if member is None:
        return render(
            request,
            "notifications/unsubscribe.html",
            {"error": "This member is no longer in the workspace."},
            status=404,
        )
    state = "resubscribed" if again else "done"
    return render(request, "notifications/unsubscribe.html", {**context, "state": state})
