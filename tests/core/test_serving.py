"""Production serving: health probes, deploy checks, security headers, logs."""

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.tenancy.routing.context import tenant_context
from config.settings import base
from tests.conftest import host

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        **extra,
    }


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr


def test_gunicorn_config_is_valid():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--check-config",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
        ],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_argon2_is_the_first_password_hasher():
    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@pytest.mark.parametrize("probe_host", ["quire.test", "10.0.0.7", "whatever.example"])
def test_health_answers_on_any_host_even_with_https_redirect(
    client, db, settings, probe_host, tenants_data_dir
):
    tenants_data_dir.mkdir(parents=True)
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST=probe_host).json() == {"status": "ok"}
    ready = client.get("/readyz", HTTP_HOST=probe_host)
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert client.get("/", HTTP_HOST="quire.test").status_code == 301  # the rest redirects


def test_readyz_fails_when_the_tenants_folder_is_missing(client, db, settings, tmp_path):
    settings.TENANTS_DATA_DIR = tmp_path / "nowhere"
    ready = client.get("/readyz", HTTP_HOST="quire.test")
    assert ready.status_code == 503
    assert ready.json()["problems"] == [f"tenants folder not writable: {tmp_path / 'nowhere'}"]


def test_pages_carry_a_content_security_policy_and_request_id(client, db):
    response = client.get("/", HTTP_HOST="quire.test", HTTP_X_REQUEST_ID="probe-123")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Request-ID"] == "probe-123"
    generated = client.get("/", HTTP_HOST="quire.test", HTTP_X_REQUEST_ID="bad id\n")
    assert len(generated["X-Request-ID"]) == 32


def test_log_lines_carry_tenant_and_request_id(client, make_tenant, sign_in, caplog):
    sign_in(client, make_tenant("acme"))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/posts/424242/", HTTP_HOST=host("acme"), HTTP_X_REQUEST_ID="req-42")
    record = next(r for r in caplog.records if "Not Found" in r.getMessage())
    formatted = logging.Formatter(base.LOGGING["formatters"]["tenant"]["format"]).format(record)
    assert "[acme req-42]" in formatted


def test_cache_entries_are_per_tenant(make_tenant):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        cache.set("greeting", "hello from acme")
    with tenant_context(beta):
        assert cache.get("greeting") is None
        cache.set("greeting", "hello from beta")
    with tenant_context(acme):
        assert cache.get("greeting") == "hello from acme"
    assert cache.get("greeting") is None  # the public site has its own scope


def test_media_files_are_per_tenant_and_traversal_is_refused(make_tenant, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        name = default_storage.save("notes/plan.txt", ContentFile(b"acme plan"))
        assert default_storage.url(name) == "/media/acme/notes/plan.txt"
    with tenant_context(beta):
        assert not default_storage.exists(name)
        for sneaky in ("../acme/notes/plan.txt", "/etc/passwd"):
            with pytest.raises(SuspiciousFileOperation):
                default_storage.open(sneaky)
    assert (tmp_path / "media" / "acme" / "notes" / "plan.txt").read_bytes() == b"acme plan"
