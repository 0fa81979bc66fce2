"""Fixtures of the SQL API tests: a workspace, tokens, and a pipeline caller."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.utils.datastructures import CaseInsensitiveMapping

from apps.sqlapi import gateway, services, streams
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


class Answer:
    """What a WSGI application answered, read like a test client's response."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.header_list = headers
        self.headers = CaseInsensitiveMapping(dict(headers))
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return str(self.headers[name])

    def __contains__(self, name: str) -> bool:
        return name in self.headers


def through_wsgi(
    method: str, path: str, *, host: str, body: bytes | str = b"", app: Any = None, **meta: Any
) -> Answer:
    """Send a request to the WSGI application gunicorn serves (``config.wsgi``).

    SQL API calls meet ``apps.sqlapi.gateway`` first, as in production; the rest goes
    on to Django. Like Django's test client, the test's database connection is kept
    open across the request (no close_old_connections).
    """
    if app is None:
        from config.wsgi import application as app
    request = RequestFactory().generic(
        method, path, data=body, content_type="application/json", HTTP_HOST=host, **meta
    )
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answered.update(status=status, headers=headers)

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with mock.patch.object(gateway, "close_old_connections", lambda: None):
            chunks = app(request.environ, start_response)
            try:
                content = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return Answer(answered["status"], answered["headers"], content)


class Api:
    """Call a workspace's SQL endpoint through the WSGI application, on its host."""

    def __init__(self, slug: str, token: str) -> None:
        self.slug, self.token = slug, token

    def post(self, path: str, body: Any, *, token: str | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body)
        authorization = f"Bearer {token or self.token}"
        return through_wsgi(
            "POST", path, host=host(self.slug), body=data, HTTP_AUTHORIZATION=authorization
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
def api(acme: Tenant, rw_token: str) -> Api:
    return Api(acme.slug, rw_token)


@pytest.fixture
def ro_api(acme: Tenant, ro_token: str) -> Api:
    return Api(acme.slug, ro_token)


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
