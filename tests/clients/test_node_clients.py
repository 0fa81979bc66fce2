"""The npm libSQL clients, unmodified, run with Node against a real server.

Each `*.test.mjs` file here is a node:test suite for one client; it gets the database URL
and tokens from `manage.py db_token` in its environment. `make test` installs Node
(.ci/system-packages) and the locked packages (`npm ci`, see the Makefile) first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.clients.conftest import CLIENTS, SqlServer

SCRIPTS = ["libsql_client.test.mjs", "turso_serverless.test.mjs"]


def node() -> str:
    binary = shutil.which("node")
    if binary is None:
        pytest.fail("Node.js is missing: make test installs it (.ci/system-packages test)")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 18:
        pytest.fail(f"the libSQL clients need Node.js 18 or newer, not {version.stdout}")
    if not (CLIENTS / "node_modules" / ".package-lock.json").exists():
        pytest.fail("the npm clients are not installed: run make client-packages")
    return binary


@pytest.mark.parametrize("script", SCRIPTS)
def test_npm_client(sql_server: SqlServer, script: str) -> None:
    env = {
        **os.environ,
        "QUIRE_DB_URL": sql_server.url,
        "QUIRE_DB_TOKEN": sql_server.token,
        "QUIRE_DB_READONLY_TOKEN": sql_server.read_only_token,
        # localhost is 127.0.0.1, where the server listens, even where Node 18 would try
        # ::1 first (Node 20 tries both).
        "NODE_OPTIONS": "--dns-result-order=ipv4first",
    }
    done = subprocess.run(
        [node(), "--test", "--test-reporter=tap", script],
        cwd=CLIENTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    counts = dict(re.findall(r"^# (\w+) (\d+)$", done.stdout, re.MULTILINE))
    declared = len(re.findall(r"^test\(", (CLIENTS / script).read_text(), re.MULTILINE))
    assert counts.get("pass") == str(declared), report  # every test ran and passed
    assert counts.get("skipped", "0") == counts.get("todo", "0") == "0", report
