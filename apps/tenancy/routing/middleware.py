"""Activate the tenant named by the request's host for the rest of the request."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from apps.tenancy.exceptions import (
    ReplicaReadOnly,
    TenantDatabaseDamaged,
    TenantDatabaseMissing,
)
from apps.tenancy.fleet.recovery import recover
from apps.tenancy.fleet.selectors import tenant_get_for_request
from apps.tenancy.metering import count_request
from apps.tenancy.models import Tenant
from apps.tenancy.nodes.bookmarks import COOKIE_NAME as BOOKMARK_COOKIE
from apps.tenancy.nodes.bookmarks import HEADER_NAME as BOOKMARK_HEADER
from apps.tenancy.nodes.bookmarks import Bookmark, sign, verified
from apps.tenancy.nodes.forwarding import HomeUnreachable, forward, was_forwarded
from apps.tenancy.nodes.replicas import (
    note_read,
    replica_live,
    replica_placed_here,
    replica_reached,
)
from apps.tenancy.nodes.replication import fetch_from_replica
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    database_path,
    finish_request,
    forget_commit,
    park_replica,
    query_time_limit,
    refresh,
    replica_reads,
)
from apps.tenancy.routing.errors import page_response, trouble_kind, trouble_response
from apps.tenancy.routing.hosts import slug_from_host
from apps.tenancy.routing.urls import public_url

logger = logging.getLogger(__name__)
MAX_HOSTS_KEPT = 4096
# What decides a host's slug: a change (tests) forgets the hosts kept.
HOST_SETTINGS = frozenset({"ALLOWED_HOSTS", "DEBUG", "QUIRE_BASE_DOMAIN", "USE_X_FORWARDED_HOST"})
_host_slugs: dict[str, str | None] = {}  # Host header -> slug, for hosts checked once
_UNKNOWN = object()
_PRIMARY = nullcontext()
REPLICA_META = "quire.replica"
HANDED_META = "quire.handed_to_primary"
HOME_DOWN_NOTICE_SECONDS = 30  # how long replica pages say "read-only" after a failed write


class TenantMiddleware:
    """Host -> slug -> tenant, active while the view runs; apex -> public site.

    Subclasses override the hooks: ``slug_from_request``, ``tenant_from_slug``,
    ``tenant_not_found``, ``tenant_suspended`` and ``prepare_public``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        slug = self.slug_from_request(request)
        if slug is None:
            self.prepare_public(request)
            return self.get_response(request)
        try:
            return self.serve(request, slug)
        except BaseException:
            # A replica read checked in resolve() ends here whatever raised, wherever:
            # its read transaction would hold up the replica's follower.
            park_replica(slug)
            raise

    def serve(self, request: HttpRequest, slug: str) -> HttpResponseBase:
        """Serve a tenant's host (the synchronous path); see ``__call__``."""
        try:
            tenant = self.resolve(request, slug, self.tenant_from_slug(slug))
        except DatabaseError as exc:
            park_replica(slug)
            return self.catalog_trouble(request, exc)
        if isinstance(tenant, HttpResponse):
            park_replica(slug)  # an override may answer after a replica check
            return tenant
        request.META["quire.tenant"] = tenant.slug  # gunicorn's access log reads it
        try:  # entering the tenant's context re-checks its connection (refresh)
            with (
                tenant_context(tenant),
                query_time_limit(_config().query_timeout),
                self.reading(request, tenant),
            ):
                forget_commit(tenant.slug)
                response = self.get_response(request)
        finally:
            commit = end_request(tenant)
        return self.served_here(request, response, commit)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        slug = self.slug_from_request(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        if slug is None:
            self.prepare_public(request)
            return await get_response(request)
        try:
            return await self.aserve(request, slug)
        except BaseException:
            await sync_to_async(park_replica)(slug)  # see __call__; a cancellation too
            raise

    async def aserve(self, request: HttpRequest, slug: str) -> HttpResponseBase:
        """Serve a tenant's host (the asynchronous path); see ``__call__``."""
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        try:
            found = await sync_to_async(self.tenant_from_slug)(slug)
            # resolve() may render a page or fetch a database: not in the event loop.
            tenant = await sync_to_async(self.resolve)(request, slug, found)
        except DatabaseError as exc:
            await sync_to_async(park_replica)(slug)
            return await sync_to_async(self.catalog_trouble)(request, exc)
        if isinstance(tenant, HttpResponse):
            await sync_to_async(park_replica)(slug)
            return tenant
        request.META["quire.tenant"] = tenant.slug
        # Sync views run in asgiref's sync thread: that is where the connections live.
        await sync_to_async(begin_request)(tenant.slug)
        try:
            with (
                tenant_context(tenant),
                query_time_limit(_config().query_timeout),
                self.reading(request, tenant),
            ):
                response = await get_response(request)
        finally:
            commit = await sync_to_async(end_request)(tenant)
        return self.served_here(request, response, commit)

    def reading(self, request: HttpRequest, tenant: Tenant) -> AbstractContextManager[None]:
        """Return where the request reads: the local replica when it serves, else the file."""
        return replica_reads(tenant.slug) if from_replica(request) else _PRIMARY

    def served_here(
        self, request: HttpRequest, response: HttpResponseBase, commit: tuple[int, int] | None
    ) -> HttpResponseBase:
        """Say which node served the response; after a write, hand back its bookmark.

        The bookmark goes in a host-only cookie (the browser sends it to this workspace
        only) and in a header for API clients.
        """
        config = _config()
        served_by = config.by_replica if from_replica(request) else config.by_primary
        # A read the replica handed to the primary keeps the primary's answer.
        response.setdefault("X-Quire-Served-By", served_by)
        if commit is not None:
            tenant_id = request.tenant.pk  # type: ignore[attr-defined]
            bookmark = sign(Bookmark(*commit), tenant_id=tenant_id)
            response[BOOKMARK_HEADER] = bookmark
            response.set_cookie(
                BOOKMARK_COOKIE,
                bookmark,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response

    def resolve(
        self, request: HttpRequest, slug: str, tenant: Tenant | None
    ) -> Tenant | HttpResponse:
        """Return the tenant to serve, or the answer for one requests may not reach."""
        if tenant is not None and (
            tenant.home_node not in ("", _config().node_id) or tenant.status == Tenant.Status.MOVING
        ):
            if not self.replica_serves(request, tenant):
                return self.tenant_elsewhere(request, tenant)
            request.META[REPLICA_META] = True
            request.tenant = tenant  # type: ignore[attr-defined]
            return tenant
        if tenant is not None and tenant.status == Tenant.Status.MAINTENANCE:
            return self.in_maintenance(request, tenant)
        if tenant is not None and tenant.status == Tenant.Status.SUSPENDED:
            return self.tenant_suspended(request, tenant)
        if tenant is None or not tenant.is_servable:
            return self.tenant_not_found(request, slug)
        request.tenant = tenant  # type: ignore[attr-defined]
        self.ensure_database(tenant)
        return tenant

    def replica_serves(self, request: HttpRequest, tenant: Tenant) -> bool:
        """Return True if this node's replica serves this read of a tenant homed elsewhere.

        Only GET and HEAD of an active tenant with a replica placed here, whose follower
        reports as live (the read wakes an idle one: the primary serves it meanwhile),
        once the replica has reached the reader's bookmark (their last write), waiting
        QUIRE_REPLICA_WAIT_MS at most; otherwise the primary serves it.
        """
        if request.method not in ("GET", "HEAD") or not tenant.is_servable:
            return False
        if was_forwarded(request) or not replica_placed_here(tenant=tenant):
            return False
        note_read(tenant.slug)
        if not replica_live(slug=tenant.slug):
            return False
        return replica_reached(slug=tenant.slug, wanted=readers_bookmark(request, tenant))

    def ensure_database(self, tenant: Tenant) -> None:
        """Fetch a tenant moved here from its replica on its first request (replication on)."""
        here = _config().replication and tenant.home_node == _config().node_id
        if here and not database_path(tenant.slug).exists():
            fetch_from_replica(slug=tenant.slug)

    def slug_from_request(self, request: HttpRequest) -> str | None:
        """Return the tenant slug of the request's host, or None for the public site.

        A host checked once (``ALLOWED_HOSTS``, the base domain) is remembered with its
        slug: the next request with the same Host header is not checked again.
        """
        forwarded = _config().forwarded_host and request.META.get("HTTP_X_FORWARDED_HOST")
        raw = forwarded or request.META.get("HTTP_HOST")  # what get_host() checks
        slug = _host_slugs.get(raw, _UNKNOWN) if raw else _UNKNOWN
        if slug is _UNKNOWN:
            slug = slug_from_host(request.get_host(), settings.QUIRE_BASE_DOMAIN)
            if raw:
                if len(_host_slugs) >= MAX_HOSTS_KEPT:
                    _host_slugs.clear()
                _host_slugs[raw] = slug
        return cast(str | None, slug)

    def tenant_from_slug(self, slug: str) -> Tenant | None:
        """Return the catalog's tenant for this slug (kept in the process), or None."""
        return tenant_get_for_request(slug=slug)

    def tenant_not_found(self, request: HttpRequest, slug: str) -> HttpResponse:
        """Answer a host that names no servable tenant: 404 with links to the main site
        (its workspace finder) and sign-up, rendered here so DEBUG shows it too; nothing
        is created."""
        context = {
            "slug": slug,
            "host": request.get_host(),
            "main_site_url": public_url("/"),
            "signup_url": public_url("/signup/"),
        }
        return render(request, "unknown_workspace.html", context, status=404)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer a database's trouble with its page: busy or damaged 503, full 507.

        A read served by a replica that turns out to write goes to the primary instead.
        """
        tenant = getattr(request, "tenant", None)
        if from_replica(request) and tenant is not None and wants_primary(exception):
            return hand_to_primary(request, tenant)
        if not isinstance(exception, DatabaseError | TenantDatabaseDamaged):
            return None
        return trouble_response(request, exception)

    def tenant_elsewhere(self, request: HttpRequest, tenant: Tenant) -> HttpResponse:
        """Answer a tenant homed on another node, or moving: see ``answer_from_home``."""
        return answer_from_home(request, tenant)

    def in_maintenance(self, request: HttpRequest, tenant: Tenant) -> HttpResponse:
        """Answer 503 while files move; finish the move if the process doing it died.

        The answer is 503 whatever the finishing meets: it is logged for operators, and
        the next request or command tries again.
        """
        try:
            recover(tenant_id=tenant.pk)
        except Exception:
            logger.exception("Could not finish the interrupted operation on %s", tenant.slug)
        return self.retry_soon(request)

    def catalog_trouble(self, request: HttpRequest, exc: DatabaseError) -> HttpResponse:
        """Answer a catalog that is briefly locked with 503; re-raise anything else."""
        if trouble_kind(exc) != "busy":
            raise exc
        return self.retry_soon(request)

    def retry_soon(self, request: HttpRequest) -> HttpResponse:
        """Answer 503 with Retry-After: the workspace is briefly unavailable."""
        return page_response(request, "unavailable")

    def tenant_suspended(self, request: HttpRequest, tenant: Tenant) -> HttpResponse:
        """Answer a suspended tenant: 403 with the "suspended" page; no data is read."""
        context = {"tenant_name": tenant.name}
        return render(request, "tenancy/suspended.html", context, status=403)

    def prepare_public(self, request: HttpRequest) -> None:
        """Serve the apex with the public URLconf and no tenant."""
        request.tenant = None  # type: ignore[attr-defined]
        request.urlconf = settings.TENANCY_PUBLIC_URLCONF  # type: ignore[attr-defined]


def begin_request(slug: str) -> None:
    """Re-check this thread's connection to the tenant and forget its earlier commit."""
    refresh(slug)
    forget_commit(slug)


def end_request(tenant: Tenant) -> tuple[int, int] | None:
    """Count the request (usage metering), keep the connection; return its last commit.

    Counted here, after every inner middleware (the session saved on the way out is
    counted too), and before ``finish_request`` closes a replica's connection.
    """
    try:
        if _config().metering:
            count_request(tenant)
    finally:  # the replica's read ends even if counting fails
        commit = finish_request(tenant.slug)
    return commit


class _Config(NamedTuple):
    """The settings every request reads, read once (a setting's attribute costs a microsecond)."""

    node_id: str
    replication: bool
    query_timeout: float | None
    metering: bool
    forwarded_host: bool
    by_primary: str  # X-Quire-Served-By
    by_replica: str


CONFIG_SETTINGS = frozenset(
    {
        "QUIRE_NODE_ID",
        "QUIRE_REPLICATION",
        "TENANT_QUERY_TIMEOUT",
        "QUIRE_USAGE_METERING",
        "USE_X_FORWARDED_HOST",
    }
)


@functools.cache
def _config() -> _Config:
    return _Config(
        node_id=settings.QUIRE_NODE_ID,
        replication=settings.QUIRE_REPLICATION,
        query_timeout=settings.TENANT_QUERY_TIMEOUT,
        metering=settings.QUIRE_USAGE_METERING,
        forwarded_host=settings.USE_X_FORWARDED_HOST,
        by_primary=f"{settings.QUIRE_NODE_ID} primary",
        by_replica=f"{settings.QUIRE_NODE_ID} replica",
    )


@receiver(setting_changed)
def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in HOST_SETTINGS:
        _host_slugs.clear()
    if setting in CONFIG_SETTINGS:
        _config.cache_clear()


def from_replica(request: HttpRequest) -> bool:
    """Return True if this request is served from this node's read replica."""
    return bool(request.META.get(REPLICA_META))


def wants_primary(exception: Exception) -> bool:
    """Return True for what the primary should answer instead of a replica.

    An attempt to write, and any trouble reading the replica (locked by its follower,
    damaged): the primary has the data, so the reader never sees an error page for it.
    """
    trouble = ReplicaReadOnly | DatabaseError | TenantDatabaseDamaged | TenantDatabaseMissing
    return isinstance(exception, trouble)


def readers_bookmark(request: HttpRequest, tenant: Tenant) -> Bookmark | None:
    """Return the newest of the bookmarks a reader sent (cookie and header), or None.

    Only bookmarks this workspace signed count: a forged or another workspace's is none.
    """
    sent = [
        verified(request.COOKIES.get(BOOKMARK_COOKIE), tenant_id=tenant.pk),
        verified(request.headers.get(BOOKMARK_HEADER), tenant_id=tenant.pk),
    ]
    return max((mark for mark in sent if mark is not None), default=None)


def answer_from_home(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Answer a tenant homed on another node, or moving; never from a local copy.

    Homed elsewhere: forward the request to the home node (QUIRE_NODES) and return its
    answer; if the home is unknown or the request was forwarded already, a 421 Misdirected
    Request naming it (X-Quire-Home-Node). Moving, or the home node not answering: a 503
    with Retry-After, which says "read-only for the moment" where a replica here goes on
    serving reads.
    """
    if tenant.status == Tenant.Status.MOVING:
        return page_response(request, "unavailable")
    address = settings.QUIRE_NODES.get(tenant.home_node)
    if address is None or was_forwarded(request):
        response = render(request, "tenancy/elsewhere.html", status=421)
        response["X-Quire-Home-Node"] = tenant.home_node
        return response
    try:
        return forward(request, address)
    except HomeUnreachable:
        if replica_placed_here(tenant=tenant):
            with tenant_context(None):  # one key for the node, whoever asks
                cache.set(home_down_key(tenant), True, HOME_DOWN_NOTICE_SECONDS)
            return page_response(request, "read_only")
        return page_response(request, "unavailable")


def home_down_key(tenant: Tenant) -> str:
    """Return the cache key that says this tenant's primary did not answer lately."""
    return f"quire-home-down:{tenant.home_node}"


def read_only_notice(request: HttpRequest) -> dict[str, bool]:
    """Context processor: tell pages served by a replica that the primary is unreachable."""
    tenant = getattr(request, "tenant", None)
    if not from_replica(request) or tenant is None:
        return {"quire_read_only": False}
    with tenant_context(None):
        return {"quire_read_only": bool(cache.get(home_down_key(tenant)))}


def hand_to_primary(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    """Let the primary answer a replica read that turned out to write; save nothing here."""
    session = getattr(request, "session", None)
    if session is not None:
        session.modified = False  # whatever the view changed is the primary's to save
    request.META[HANDED_META] = True
    return answer_from_home(request, tenant)


class ReplicaSessionGuard:
    """Keep session saves off a read replica.

    Listed right after SessionMiddleware, so it sees each response before the session
    would be saved: a replica read whose session changed (a reset link stores its token
    there) is answered by the primary instead, and nothing is written here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if not from_replica(request) or session is None or not session.modified:
            return response
        if request.META.get(HANDED_META):
            session.modified = False
            return response
        return hand_to_primary(request, request.tenant)  # type: ignore[attr-defined]
