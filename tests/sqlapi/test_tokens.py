"""Database tokens: the settings page, manage.py db_token, and what the endpoint accepts."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.sqlapi.models import DatabaseToken, RefusedTokenAttempt
from apps.sqlapi.services import token_create, token_hash
from tests.conftest import host
from tests.sqlapi.conftest import Api


def db_token(*args: str) -> str:
    out = StringIO()
    call_command("db_token", *args, stdout=out)
    return out.getvalue()


def refusals(tenant) -> dict[str, int]:
    return {row.reason: row.count for row in RefusedTokenAttempt.objects.filter(tenant=tenant)}


def test_db_token_prints_url_and_token_as_json_and_the_token_works(client, acme):
    printed = json.loads(db_token("acme", "--json", "--name", "etl"))
    assert printed["url"] == "http://acme.quire.test/"
    assert printed["path_url"] == "http://quire.test/db/acme/"
    assert printed["read_only"] is False and printed["expires_at"] is None
    api = Api("acme", printed["token"])
    assert api.execute("SELECT 1")["rows"]
    stored = DatabaseToken.objects.get(name="etl")
    assert stored.token_hash == token_hash(printed["token"])
    assert printed["token"] not in json.dumps(list(DatabaseToken.objects.values()), default=str)


def test_db_token_read_only_with_expiry_and_revoke(client, acme):
    printed = json.loads(db_token("acme", "--read-only", "--expires", "7", "--json"))
    assert printed["read_only"] is True
    token = DatabaseToken.objects.get(name=printed["name"])
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    api = Api("acme", printed["token"])
    assert api.execute("INSERT INTO posts_tag(name) VALUES ('x')")["code"] == "SQLITE_AUTH"
    assert "Revoked" in db_token("acme", "--revoke", printed["name"])
    response = api.pipeline({"type": "close"})
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"


def test_db_token_refuses_what_it_cannot_do(acme):
    with pytest.raises(CommandError, match="No workspace 'nope'"):
        db_token("nope")
    with pytest.raises(CommandError, match="no live token named 'ghost'"):
        db_token("acme", "--revoke", "ghost")
    with pytest.raises(CommandError, match="--revoke takes only the token's name; --read-only"):
        db_token("acme", "--revoke", "ghost", "--read-only")
    db_token("acme", "--name", "twice")
    with pytest.raises(CommandError, match="already has a token named 'twice'"):
        db_token("acme", "--name", "twice")
    with pytest.raises(CommandError, match="Expiry must be between"):
        db_token("acme", "--expires", "0")


def test_refused_tokens_get_401_and_are_counted(client, acme, make_tenant):
    other = make_tenant("other")
    foreign = token_create(tenant=other, name="theirs", read_only=False)[1]
    expired_token, expired = token_create(tenant=acme, name="old", read_only=False)
    DatabaseToken.objects.filter(pk=expired_token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked_token, revoked = token_create(tenant=acme, name="gone", read_only=False)
    revoked_token.revoked_at = timezone.now()
    revoked_token.save()
    for raw in (foreign, expired, revoked, "quire_db_made-up"):
        response = Api("acme", raw).pipeline({"type": "close"})
        assert response.status_code == 401, raw
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "UNAUTHORIZED"
    missing = client.post(
        "/v2/pipeline", data="{}", content_type="application/json", HTTP_HOST=host("acme")
    )
    assert missing.status_code == 401
    assert refusals(acme) == {"foreign": 1, "expired": 1, "revoked": 1, "unknown": 1, "missing": 1}
    assert refusals(other) == {}


def test_the_last_use_is_recorded(api, acme):
    token = DatabaseToken.objects.get(name="rw")
    assert token.last_used_at is None
    api.execute("SELECT 1")
    token.refresh_from_db()
    assert timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_admins_create_see_once_list_and_revoke_tokens(client, acme, sign_in):
    sign_in(client, acme)
    page = client.get("/settings/", HTTP_HOST=host("acme"))
    assert b"http://acme.quire.test/" in page.content
    assert b"http://quire.test/db/acme/" in page.content
    created = client.post(
        "/settings/tokens/",
        {"name": "notebook", "access": "write", "expires": "30"},
        HTTP_HOST=host("acme"),
    )
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    secret = re.search(rb"quire_db_[A-Za-z0-9_-]{40,}", created.content).group().decode()
    assert (
        Api("acme", secret).execute("INSERT INTO posts_tag(name) VALUES ('x')")[
            "affected_row_count"
        ]
        == 1
    )
    again = client.get("/settings/", HTTP_HOST=host("acme"))
    assert secret.encode() not in again.content  # shown once
    assert b"notebook" in again.content and b"Read and write" in again.content
    token = DatabaseToken.objects.get(name="notebook")
    assert token.created_by == "admin@acme.example"
    revoked = client.post(f"/settings/tokens/{token.pk}/revoke/", HTTP_HOST=host("acme"))
    assert revoked.status_code == 302
    assert Api("acme", secret).pipeline({"type": "close"}).status_code == 401


def test_the_token_form_says_what_is_wrong(client, acme, sign_in):
    sign_in(client, acme)
    token_create(tenant=acme, name="taken", read_only=True)
    for data, error in (
        ({"name": "", "access": "read", "expires": "30"}, b"This field is required"),
        ({"name": "taken", "access": "read", "expires": ""}, b"already has a token named"),
        ({"name": "x", "access": "root", "expires": "30"}, b"Select a valid choice"),
    ):
        response = client.post("/settings/tokens/", data, HTTP_HOST=host("acme"))
        assert response.status_code == 400
        assert error in response.content
        assert b"quire_db_" not in response.content.replace(b"<code>quire_db_", b"")


def test_members_cannot_manage_tokens(client, acme, make_member, sign_in):
    make_member(acme, "member@acme.example")
    sign_in(client, acme, "member@acme.example")
    response = client.post(
        "/settings/tokens/", {"name": "x", "access": "write"}, HTTP_HOST=host("acme")
    )
    assert response.status_code == 403
    token = token_create(tenant=acme, name="theirs", read_only=True)[0]
    response = client.post(f"/settings/tokens/{token.pk}/revoke/", HTTP_HOST=host("acme"))
    assert response.status_code == 403
    assert not DatabaseToken.objects.filter(revoked_at__isnull=False).exists()


def test_an_admin_cannot_revoke_another_workspaces_token(client, acme, make_tenant, sign_in):
    other = make_tenant("other")
    theirs = token_create(tenant=other, name="theirs", read_only=True)[0]
    sign_in(client, acme)
    client.post(f"/settings/tokens/{theirs.pk}/revoke/", HTTP_HOST=host("acme"))
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_flood_of_bad_tokens_is_counted_without_a_write_each(client, acme):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from apps.sqlapi.services import flush_refusals

    bad = Api("acme", "quire_db_wrong")
    with CaptureQueriesContext(connections["default"]) as queries:
        for _ in range(50):
            assert bad.pipeline({"type": "close"}).status_code == 401
    writes = [
        q for q in queries if "sqlapi_refusedtokenattempt" in q["sql"] and "SELECT" not in q["sql"]
    ]
    assert len(writes) <= 4  # the first at once, then at most once a second
    flush_refusals()
    assert refusals(acme) == {"unknown": 50}


def test_a_token_revoked_by_another_process_stops_working_within_a_second(api, acme, monkeypatch):
    from apps.sqlapi import services

    assert api.execute("SELECT 1")["rows"]
    DatabaseToken.objects.filter(name="rw").update(revoked_at=timezone.now())  # elsewhere
    assert api.execute("SELECT 1")["rows"]  # this process trusts its lookup for a second
    monkeypatch.setattr(services, "TOKEN_CACHE_SECONDS", 0)
    assert api.pipeline({"type": "close"}).status_code == 401
