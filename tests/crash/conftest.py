"""Crash tests run Quire in real processes, each on its own catalog and tenants folder."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "crash-Test-pass-77"


class Quire:
    """One Quire installation in a folder: run its commands, read its files."""

    def __init__(self, folder: Path, settings: str = "config.settings.local", **env: str) -> None:
        self.folder = folder
        self.data = folder / "tenants"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{folder / 'catalog.sqlite3'}",
            "TENANTS_DATA_DIR": str(self.data),
            "DJANGO_CACHE_DIR": str(folder / "cache"),
            "DJANGO_STATIC_ROOT": str(folder / "static"),
            "DJANGO_LOG_LEVEL": "WARNING",
            **env,
        }
        self.processes: list[subprocess.Popen[str]] = []

    def manage(
        self, *args: str, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=check,
        )

    def start_binary(self, binary: str, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start a program in its own process group (so its children die with it)."""
        process = subprocess.Popen(
            [binary, *args],
            cwd=ROOT,
            env={**self.env, **env},
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start a Python command in its own process group (so its workers die with it)."""
        return self.start_binary(sys.executable, *args, **env)

    def stop(self) -> None:
        """Kill every process group this installation started and nothing has reaped yet."""
        for process in reversed(self.processes):
            if process.returncode is None:
                kill_group(process)

    def catalog(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.folder / "catalog.sqlite3") as raw:
            return raw.execute(sql).fetchall()

    def tenant(self, slug: str, sql: str) -> list[tuple]:
        with sqlite3.connect(self.data / f"{slug}.sqlite3") as raw:
            return raw.execute(sql).fetchall()


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL a process and every process of its group, then reap it."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until(condition, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HttpSession:
    """A browser-like client for one host on 127.0.0.1: cookies and the CSRF token."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host, self.cookies = port, host, {}
        self.csrf = ""
        self.headers: dict[str, str] = {}  # of the last response

    def request(self, method: str, path: str, form: dict[str, str] | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {
            "Host": self.host,
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": self.csrf})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        self.headers = dict(response.headers.items())
        for header in response.headers.get_all("Set-Cookie") or []:
            name, value = header.split(";", 1)[0].split("=", 1)
            self.cookies[name] = value
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text)
        if found:
            self.csrf = found.group(1)
        return response.status, text

    def sign_in(self, email: str, password: str) -> None:
        self.request("GET", "/login/")
        status, _ = self.request("POST", "/login/", {"username": email, "password": password})
        assert status == 302, "sign-in failed"


@pytest.fixture
def quire(tmp_path: Path) -> Iterator[Quire]:
    """A migrated installation; whatever it started is killed when the test ends."""
    installation = Quire(tmp_path)
    try:
        installation.manage("migrate", "--no-input")
        yield installation
    finally:
        installation.stop()


@pytest.fixture
def secret() -> str:
    return secrets.token_urlsafe(50)
