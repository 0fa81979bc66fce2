"""The SQL API's own WSGI door (apps.sqlapi.gateway): what a call gets without Django."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application
from django.db import OperationalError

from apps.sqlapi import gateway
from apps.sqlapi.gateway import SqlApiGateway
from apps.tenancy import metering
from apps.tenancy.fleet.services import tenant_suspend
from apps.tenancy.models import Tenant
from apps.tenancy.routing import catalogcache
from tests.conftest import host
from tests.sqlapi.conftest import stmt, through_wsgi, values

SELECT = {"requests": [{"type": "execute", "stmt": stmt("SELECT 6 * 7")}, {"type": "close"}]}


class Recorder:
    """A stand-in for Django's application: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]


def call(api, path: str = "/v2/pipeline", body: Any = SELECT, **meta: Any):
    meta.setdefault("HTTP_AUTHORIZATION", f"Bearer {api.token}")
    meta.setdefault("host", host(api.slug))
    return through_wsgi("POST", path, body=json.dumps(body), **meta)


def test_an_api_call_never_reaches_django_and_a_page_does(api):
    django = Recorder()
    door = SqlApiGateway(django)
    answered = call(api, app=door)
    assert answered.status_code == 200
    assert values(answered.json()["results"][0]["response"]["result"]) == [[42]]
    assert django.paths == []
    through_wsgi("GET", "/v2/pipeline", host=host("acme"), app=door)  # not a POST
    through_wsgi("POST", "/posts/new/", host=host("acme"), app=door)  # not an endpoint
    through_wsgi("POST", "/v2/pipeline", host="quire.test", app=door)  # the apex's own
    assert django.paths == ["/v2/pipeline", "/posts/new/", "/v2/pipeline"]


def test_the_answer_carries_the_api_headers_and_no_page_headers(api):
    answered = call(api)
    assert int(answered["Content-Length"]) == len(answered.content)
    assert answered["Content-Type"] == "application/json"
    assert answered["X-Content-Type-Options"] == "nosniff"
    assert answered["Cache-Control"] == "no-store"
    assert answered["X-Quire-Served-By"] == "node-1 primary"
    assert len(answered["X-Request-ID"]) == 32
    assert "Set-Cookie" not in answered and "Content-Security-Policy" not in answered
    assert "Strict-Transport-Security" not in answered  # plain HTTP


def test_a_proxys_request_id_is_kept_and_a_bad_one_replaced(api):
    assert call(api, HTTP_X_REQUEST_ID="edge-42.a")["X-Request-ID"] == "edge-42.a"
    replaced = call(api, HTTP_X_REQUEST_ID="no spaces <allowed>")["X-Request-ID"]
    assert replaced != "no spaces <allowed>" and len(replaced) == 32


def test_the_access_log_gets_the_request_id_and_the_workspace(api):
    seen: dict[str, Any] = {}
    door = SqlApiGateway(Recorder())

    def spy(environ: dict[str, Any], start_response: Any) -> Any:
        answer = door(environ, start_response)
        seen.update(environ)
        return answer

    answered = call(api, app=spy)
    assert seen["quire.tenant"] == "acme"
    assert seen["quire.request_id"] == answered["X-Request-ID"]


def test_https_is_required_as_for_pages_and_hsts_sent_over_it(api, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    door = SqlApiGateway(get_wsgi_application())  # Django's middleware reads these at start
    redirected = call(api, "/db/acme/v2/pipeline", host="quire.test", app=door)
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://quire.test/db/acme/v2/pipeline"
    secure = call(api, app=door, secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600"


def test_a_host_outside_the_base_domain_is_a_protocol_error(api, caplog):
    answered = call(api, host="evil.example")
    assert answered.status_code == 400
    assert answered.json() == {"message": "This host is not served here.", "code": "INVALID_HOST"}
    assert "evil.example" in caplog.text


def test_a_refused_call_is_logged_as_django_logs_one(api, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        call(api, HTTP_AUTHORIZATION="Bearer quire_db_wrong")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Unauthorized: /v2/pipeline"
    assert record.levelno == logging.WARNING and record.status_code == 401


def test_the_path_form_on_the_base_domain(api):
    answered = call(api, "/db/acme/v3/pipeline", host="quire.test")
    assert answered.status_code == 200
    assert answered.json()["results"][0]["type"] == "ok"


def test_a_garbled_content_length_is_a_protocol_error(api):
    answered = call(api, CONTENT_LENGTH="12abc")
    assert answered.status_code == 400
    assert answered.json()["message"] == "The Content-Length header is not a size."


def chunked(api, body: Any):
    """Call as a server does with a body sent in chunks: no Content-Length, a closed stream."""
    stream = {"wsgi.input": io.BytesIO(json.dumps(body).encode()), "wsgi.input_terminated": True}
    return call(api, body=body, CONTENT_LENGTH="", **stream)


def test_a_body_sent_in_chunks_is_read_and_limited(api, settings):
    assert values(chunked(api, SELECT).json()["results"][0]["response"]["result"]) == [[42]]
    settings.SQLAPI_MAX_BODY_BYTES = 50
    too_big = chunked(api, SELECT)
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "BODY_TOO_LARGE"


def test_suspended_deleted_and_elsewhere_workspaces_are_refused(api, acme):
    Tenant.objects.filter(pk=acme.pk).update(home_node="node-2")
    elsewhere = call(api)
    assert elsewhere.status_code == 421
    assert elsewhere.json()["code"] == "MISDIRECTED"
    assert elsewhere["X-Quire-Home-Node"] == "node-2"
    Tenant.objects.filter(pk=acme.pk).update(home_node="")
    tenant_suspend(tenant=acme)
    suspended = call(api)
    assert (suspended.status_code, suspended.json()["code"]) == (403, "SUSPENDED")
    Tenant.objects.filter(pk=acme.pk).update(status=Tenant.Status.DELETED)
    deleted = call(api)
    assert (deleted.status_code, deleted.json()["code"]) == (404, "NOT_FOUND")
    unknown = call(api, "/db/nobody/v2/pipeline", host="quire.test")
    assert unknown.json() == {"message": "No workspace 'nobody'.", "code": "NOT_FOUND"}


def test_a_call_is_metered_as_a_request_an_api_call_and_its_rows(api, acme):
    call(api)  # (takes the rows the fixtures' own connection read)
    metering.discard_pending()
    call(api, body={"requests": [{"type": "execute", "stmt": stmt("SELECT 1 UNION SELECT 2")}]})
    (counts,) = metering.pending_counts(acme).values()
    assert (counts["requests"], counts["api_calls"], counts["rows_read"]) == (1, 1, 2)
    call(api, HTTP_AUTHORIZATION="Bearer quire_db_wrong")  # refused: counted as a refusal
    (counts,) = metering.pending_counts(acme).values()
    assert (counts["requests"], counts["api_calls"]) == (1, 1)


def test_a_catalog_in_trouble_is_503_with_retry_after(api, monkeypatch, caplog):
    def locked(*, slug: str) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(gateway, "tenant_get_for_request", locked)
    catalogcache.forget()
    answered = call(api)
    assert answered.status_code == 503
    assert answered.json()["code"] == "UNAVAILABLE" and answered["Retry-After"] == "5"
    assert "could not read the catalog" in caplog.text


def test_a_failure_of_ours_is_a_logged_json_500_without_a_traceback(api, monkeypatch, caplog):
    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway, "run", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        answered = call(api)
    assert answered.status_code == 500
    assert answered.json()["code"] == "SERVER_ERROR"
    assert b"a bug" not in answered.content and b"Traceback" not in answered.content
    (logged,) = [r for r in caplog.records if r.name == "django.request"]  # logged once
    assert "RuntimeError: a bug" in caplog.text and logged.exc_info


@pytest.mark.parametrize("door", ["wsgi", "django"])
def test_both_doors_answer_alike(api, client, door):
    """Under ASGI and in Django's test client, SqlApiMiddleware serves the same endpoint."""
    if door == "wsgi":
        answered = call(api)
    else:
        answered = client.post(
            "/v2/pipeline",
            data=json.dumps(SELECT),
            content_type="application/json",
            HTTP_HOST=host("acme"),
            HTTP_AUTHORIZATION=f"Bearer {api.token}",
        )
    assert values(answered.json()["results"][0]["response"]["result"]) == [[42]]
    assert answered["X-Quire-Served-By"] == "node-1 primary"
    assert answered["Cache-Control"] == "no-store"
    assert answered["X-Content-Type-Options"] == "nosniff"
    assert answered["X-Request-ID"]
