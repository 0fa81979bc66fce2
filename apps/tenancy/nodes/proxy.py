"""The front proxy's routing, generated from the catalog: each workspace host to its node."""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Count

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant

NODE_NAME = re.compile(r"[A-Za-z0-9_-]+")
# nginx is the edge: it replaces whatever X-Forwarded-For a client sent with the address it
# sees, and the nodes believe that header from the addresses in QUIRE_TRUSTED_PROXIES only.
FORWARDED_HEADERS = (
    "        proxy_set_header Host $http_host;",
    "        proxy_set_header X-Request-ID $request_id;",
    "        proxy_set_header X-Forwarded-For $remote_addr;",
    "        proxy_set_header X-Forwarded-Proto $scheme;",
)


class NoNodes(ApplicationError):
    """QUIRE_NODES lists no node to route to."""


def nginx_config(*, listen: str) -> str:
    """Return an nginx http-level configuration: host map, one upstream per node, a server.

    The nodes must list this proxy's address in QUIRE_TRUSTED_PROXIES (and each other's,
    as they forward requests to each other) to see each client's own address.

    The apex (sign-ups) goes to the node with the fewest tenants: new tenants are homed
    where they are provisioned, so this is the placement policy. A node that receives a
    request for a workspace homed elsewhere forwards it there itself (see
    ``apps.tenancy.nodes.forwarding``), so a map one move behind still reaches the right node.
    """
    nodes = settings.QUIRE_NODES
    if not nodes:
        raise NoNodes("Set QUIRE_NODES (node-1=host:port,node-2=host:port) to route to nodes.")
    base = settings.QUIRE_BASE_DOMAIN
    lines = [
        "map $host $quire_node {",
        "    hostnames;",
        f"    default {_upstream(least_loaded_node())};",
    ]
    homes = Tenant.objects.exclude(status=Tenant.Status.DELETED).exclude(home_node="")
    for slug, node in homes.order_by("slug").values_list("slug", "home_node"):
        if node in nodes:
            lines.append(f"    {slug}.{base} {_upstream(node)};")
    lines.append("}")
    for node, address in sorted(nodes.items()):
        lines.append(f"upstream {_upstream(node)} {{ server {address}; }}")
    lines += [
        "server {",
        f"    listen {listen};",
        f"    server_name {base} .{base};",
        f"    client_max_body_size {_body_limit()};",
        "    location / {",
        "        proxy_pass http://$quire_node;",
        *FORWARDED_HEADERS,
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _body_limit() -> str:
    """Return nginx's request body limit: Django's, files included, so nginx refuses first.

    0: none. Django refuses the files' share itself where they are not taken.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return "0" if limit is None else str(limit + int(settings.QUIRE_MAX_UPLOAD_BYTES))


def least_loaded_node() -> str:
    """Return the node of QUIRE_NODES that is home to the fewest tenants."""
    counts = dict(
        Tenant.objects.exclude(status=Tenant.Status.DELETED)
        .values_list("home_node")
        .annotate(n=Count("id"))
        .values_list("home_node", "n")
    )
    return min(sorted(settings.QUIRE_NODES), key=lambda node: counts.get(node, 0))


def _upstream(node: str) -> str:
    """Return nginx's upstream name for a node."""
    if not NODE_NAME.fullmatch(node):
        raise NoNodes(f"Node name {node!r} in QUIRE_NODES: use letters, digits, '-' and '_'.")
    return f"quire_{node}"
