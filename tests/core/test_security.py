"""Cross-site forms, request size limits, tokens kept out of logs, private caching."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.core.redaction import redact
from config.settings import base
from tests.conftest import host

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbg"


def production_setting(name: str) -> object:
    """Return a setting as config.settings.production computes it for quire.test."""
    code = (
        f"import json; from config.settings import production; print(json.dumps(production.{name}))"
    )
    env = {**os.environ, "DJANGO_SECRET_KEY": "x" * 50, "QUIRE_BASE_DOMAIN": "quire.test"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def cross_site_post(origin: str) -> int:
    """POST a sign-in form to acme from origin, with a CSRF cookie the attacker planted."""
    browser = Client(enforce_csrf_checks=True)
    browser.cookies["csrftoken"] = "a" * 32
    response = browser.post(
        "/login/",
        {"csrfmiddlewaretoken": "a" * 32, "username": "x@acme.example", "password": "x"},
        HTTP_HOST=host("acme"),
        HTTP_ORIGIN=origin,
        HTTP_REFERER=f"{origin}/",
        secure=True,
    )
    return response.status_code


def test_a_workspace_trusts_forms_from_its_own_origin_only(make_tenant, settings):
    make_tenant("acme")
    settings.CSRF_TRUSTED_ORIGINS = production_setting("CSRF_TRUSTED_ORIGINS")
    assert cross_site_post("https://evil.quire.test") == 403
    assert cross_site_post("https://quire.test") == 403
    assert cross_site_post("https://acme.quire.test") == 200  # the form, with its error


def ten_megabytes() -> SimpleUploadedFile:
    return SimpleUploadedFile("big.bin", b"x" * (10 * 1024 * 1024))


@pytest.mark.parametrize(("path", "site"), [("/login/", host("acme")), ("/signup/", "quire.test")])
def test_an_anonymous_ten_megabyte_post_is_refused_unread(make_tenant, path, site):
    make_tenant("acme")
    response = Client().post(path, {"username": "x", "upload": ten_megabytes()}, HTTP_HOST=site)
    assert response.status_code == 413
    assert b"Request too large" in response.content
    assert b"1024 KB at most" in response.content


def test_too_many_files_or_fields_in_a_small_body_get_413(make_tenant, settings):
    make_tenant("acme")
    files = [SimpleUploadedFile(f"note{n}.txt", b"hello") for n in range(11)]
    response = Client().post("/login/", {"upload": files}, HTTP_HOST=host("acme"))
    assert response.status_code == 413
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {f"f{n}": "x" for n in range(10)}
    response = Client().post("/login/", fields, HTTP_HOST=host("acme"))
    assert response.status_code == 413 and b"Request too large" in response.content


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (f"GET /invitation/{TOKEN}/ HTTP/1.1", "GET /invitation/[redacted]/ HTTP/1.1"),
        (f"/welcome/{TOKEN}:1x:sig/", "/welcome/[redacted]/"),
        (f"POST /reset/MQ/{TOKEN}/ HTTP/1.1", "POST /reset/MQ/[redacted]/ HTTP/1.1"),
        ("/reset/MQ/set-password/", "/reset/MQ/set-password/"),
        ("/reset/done/", "/reset/done/"),
        ("/password-reset/sent/", "/password-reset/sent/"),
        ("/invitations/3/revoke/", "/invitations/3/revoke/"),
        (f"https://acme.quire.example/invitation/{TOKEN}/?x=1", None),
    ],
)
def test_link_tokens_are_masked(line, logged):
    assert redact(line) == (logged or line.replace(TOKEN, "[redacted]"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_gunicorn_logs_no_link_token(tmp_path):
    port = free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_ACCESS_LOG": str(access_log),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for path in (f"/invitation/{TOKEN}/", f"/welcome/{TOKEN}/", f"/reset/MQ/{TOKEN}/"):
            status = get_when_up(f"http://127.0.0.1:{port}{path}", referer=f"http://x{path}")
            assert status == 404  # the apex has no such page
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    logged = access_log.read_text()
    assert logged.count("[redacted]") == 3
    assert TOKEN not in logged
    assert "Not Found: /invitation/[redacted]/" in output
    assert TOKEN not in output


def get_when_up(url: str, *, referer: str) -> int:
    """Return the status of a GET (Host quire.test), waiting for the server to listen."""
    headers = {"Host": "quire.test", "Referer": referer}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http only)
    for _ in range(200):
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except urllib.error.URLError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answered {url}")


def test_django_request_log_lines_carry_no_token(make_tenant, caplog):
    make_tenant("acme")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        Client().get(f"/invitation/{TOKEN}/", HTTP_HOST=host("acme"))
    record = next(r for r in caplog.records if "Bad Request" in r.getMessage())
    for logging_filter in logging.getLogger().handlers[0].filters:
        logging_filter.filter(record)
    formatted = logging.Formatter(base.LOGGING["formatters"]["tenant"]["format"]).format(record)
    assert "/invitation/[redacted]/" in formatted and TOKEN not in formatted


def test_signed_in_pages_and_exports_are_never_stored(make_tenant, sign_in):
    acme = make_tenant("acme")
    member = Client()
    sign_in(member, acme)
    for path in ("/", "/members/", "/settings/export.json", "/settings/export.sqlite3"):
        response = member.get(path, HTTP_HOST=host("acme"))
        assert response.status_code == 200, path
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, path


def test_gunicorn_trusts_forwarded_headers_from_the_same_proxies_as_django():
    code = (
        "import sys; from gunicorn.app.wsgiapp import WSGIApplication;"
        "sys.argv = ['gunicorn', '-c', 'config/gunicorn.py', 'config.wsgi'];"
        "print(','.join(WSGIApplication().cfg.forwarded_allow_ips))"
    )
    env = {**os.environ, "QUIRE_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "10.0.0.0/8,192.0.2.1"
