"""Fixtures of the SQL API tests: a workspace, tokens, and a pipeline caller."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from apps.sqlapi import services, streams
from apps.sqlapi.services import token_create
from apps.tenancy.models import Tenant
from tests.conftest import host


@pytest.fixture(autouse=True)
def no_kept_streams() -> Iterator[None]:
    """Close every stream and pooled connection a test left (files go with the test)."""
    yield
    streams.reap(now=float("inf"))
    streams.drop_pool()
    services._refusals.clear()  # (workspace ids come again in the next test)
    services._tokens.clear()


@pytest.fixture
def acme(make_tenant: Callable[..., Tenant]) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def rw_token(acme: Tenant) -> str:
    return token_create(tenant=acme, name="rw", read_only=False)[1]


@pytest.fixture
def ro_token(acme: Tenant) -> str:
    return token_create(tenant=acme, name="ro", read_only=True)[1]


def stmt(sql: str, *args: Any, **named: Any) -> dict[str, Any]:
    """Return a protocol statement with typed arguments."""
    return {
        "sql": sql,
        "args": [typed(value) for value in args],
        "named_args": [{"name": name, "value": typed(value)} for name, value in named.items()],
    }


def typed(value: Any) -> dict[str, Any]:
    """Return the protocol value of a Python value."""
    import base64

    if value is None:
        return {"type": "null"}
    if isinstance(value, bool | int):
        return {"type": "integer", "value": str(int(value))}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, bytes):
        return {"type": "blob", "base64": base64.b64encode(value).decode()}
    return {"type": "text", "value": value}


class Api:
    """Call a workspace's SQL endpoint through Django's test client."""

    def __init__(self, client: Client, slug: str, token: str) -> None:
        self.client, self.slug, self.token = client, slug, token

    def post(self, path: str, body: Any, *, token: str | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}
        return self.client.post(
            path, data=data, content_type="application/json", HTTP_HOST=host(self.slug), **headers
        )

    def pipeline(self, *requests: dict[str, Any], baton: str | None = None, **kwargs: Any):
        response = self.post("/v2/pipeline", {"baton": baton, "requests": list(requests)}, **kwargs)
        return response

    def run(self, *requests: dict[str, Any], baton: str | None = None) -> dict[str, Any]:
        """Run requests and return the JSON body (asserting HTTP 200)."""
        response = self.pipeline(*requests, baton=baton)
        assert response.status_code == 200, response.content
        return response.json()

    def execute(self, sql: str, *args: Any, **named: Any) -> dict[str, Any]:
        """Execute one statement and close; return its result or its error."""
        body = self.run({"type": "execute", "stmt": stmt(sql, *args, **named)}, {"type": "close"})
        first = body["results"][0]
        return first["response"]["result"] if first["type"] == "ok" else first["error"]


@pytest.fixture
def api(client: Client, acme: Tenant, rw_token: str) -> Api:
    return Api(client, acme.slug, rw_token)


@pytest.fixture
def ro_api(client: Client, acme: Tenant, ro_token: str) -> Api:
    return Api(client, acme.slug, ro_token)


def values(result: dict[str, Any]) -> list[list[Any]]:
    """Return a StmtResult's rows as plain values (integers as ints, blobs as bytes)."""
    import base64

    def plain(value: dict[str, Any]) -> Any:
        kind = value["type"]
        if kind == "integer":
            return int(value["value"])
        if kind == "blob":
            return base64.b64decode(value["base64"])
        return value.get("value")

    return [[plain(value) for value in row] for row in result["rows"]]
