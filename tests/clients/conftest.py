"""One real Quire server for the client tests: gunicorn on 127.0.0.1, the demo workspace,
and a read-write and a read-only token from `manage.py db_token demo --json`.

The clients get the path form of the workspace's database URL exactly as `db_token` prints
it (`path_url`, http://localhost:<port>/db/demo/: Node does not resolve *.localhost, so the
host form http://demo.localhost:<port>/ is for browsers and curl); the server runs with
QUIRE_URL_PORT set to its own port so that the URL points at it.
"""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crash.conftest import Quire, free_port, wait_until

CLIENTS = Path(__file__).resolve().parent
DEMO_TITLES = ["Welcome to Quire", "Quarterly planning", "Design review on Thursday"]


@dataclass(frozen=True)
class SqlServer:
    """A running server and what a client needs to reach the demo workspace's database."""

    port: int
    url: str  # the path_url `db_token --json` prints
    token: str
    read_only_token: str
    quire: Quire


def serving_env(port: int) -> dict[str, str]:
    """Production settings over plain HTTP on 127.0.0.1:<port>, as `make serve` runs them."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "QUIRE_URL_SCHEME": "http",
        "QUIRE_URL_PORT": str(port),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",  # streams (batons) live in one process: see the README
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": "",
    }


def db_token(quire: Quire, *args: str) -> dict[str, str]:
    return json.loads(quire.manage("db_token", "demo", "--json", *args).stdout)


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz", headers={"Host": "localhost"})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture(scope="package")
def sql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlServer]:
    """Serve the demo workspace with gunicorn for the whole package; stop it at the end."""
    port = free_port()
    quire = Quire(tmp_path_factory.mktemp("sqlapi"), **serving_env(port))
    try:
        quire.manage("migrate", "--no-input")
        quire.manage("demo_workspace")
        write = db_token(quire, "--name", "client tests")
        read = db_token(quire, "--name", "client tests, read-only", "--read-only")
        assert write["path_url"] == read["path_url"] == f"http://localhost:{port}/db/demo/"
        quire.start("-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi")
        wait_until(lambda: healthy(port), what="gunicorn to answer")
        yield SqlServer(port, write["path_url"], write["token"], read["token"], quire)
    finally:
        quire.stop()
