"""Supervision faults: a supervisor killed -9, a placement with nothing to follow yet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from apps.tenancy.nodes.replicas import tenant_replica_place
from apps.tenancy.nodes.supervisor import Supervisor
from apps.tenancy.routing.databases import release_all, replica_path
from tests.replication.test_replica_supervisor import on_node
from tests.replication.test_replica_supervisor import tight as tight

pytestmark = pytest.mark.django_db(transaction=True)

PARENT = """
import subprocess, sys, time
import django
django.setup()
from apps.tenancy.nodes.supervisor import _die_with_parent
child = subprocess.Popen(["sleep", "120"], preexec_fn=_die_with_parent)
print(child.pid, flush=True)
time.sleep(120)
"""


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] == "Z"


def test_a_follower_dies_with_a_supervisor_killed_by_sigkill(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdout=subprocess.PIPE,
        cwd=os.getcwd(),
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while not gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(child), "the follower outlived its supervisor"
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_a_placement_with_no_replica_stored_yet_backs_off_and_leaves_nothing(
    make_tenant, s3_replica, tight, settings, tmp_path
):
    tenant = make_tenant("acme")  # no Litestream runs: the object store has nothing of it
    release_all()
    supervisor = Supervisor()
    try:
        with on_node(settings, "node-2", tmp_path / "node-2"):
            tenant_replica_place(tenant=tenant, node="node-2")
            deadline = time.monotonic() + 20
            while supervisor.failures.get("acme", 0) < 2 and time.monotonic() < deadline:
                supervisor.step()
                time.sleep(0.1)
            assert supervisor.failures.get("acme", 0) >= 2
            assert not replica_path("acme").exists()
            folder = replica_path("acme").parent
            leftovers = [p.name for p in folder.iterdir() if "acme" not in supervisor.followers]
            assert leftovers == []
    finally:
        supervisor.stop_all()
