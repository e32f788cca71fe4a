"""A real Celery worker, fed through Redis, scans two simulated accounts on a moto server.

Runs when CELERY_BROKER_URL points at a broker and the database is PostgreSQL, as in .ci/run. The
worker is a separate process, so it needs a database that both processes can open.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from moto.server import ThreadedMotoServer

from accounts.models import Account
from posture import services
from posture.models import Finding, Scan
from tests.aws import aws_account, role_arn

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ("111111111111", "222222222222")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL") or not os.environ.get("DATABASE_URL"),
        reason="needs CELERY_BROKER_URL and a PostgreSQL DATABASE_URL (see .ci/run)",
    ),
]


@pytest.fixture
def moto_server(settings):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    settings.AWS_ENDPOINT_URL = url
    yield url
    server.stop()


@pytest.fixture
def worker(moto_server):
    """Start a Celery worker on a queue of its own, pointed at the test database and the moto server."""
    from config.celery import app

    queue = f"test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": moto_server,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            queue,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    yield process
    app.conf.task_default_queue = previous_queue
    process.terminate()
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    print(output)  # shown by pytest when the test fails


def test_worker_scans_two_accounts(worker):
    assert not settings.CELERY_TASK_ALWAYS_EAGER
    for account_id in ACCOUNTS:
        Account.objects.create(
            account_id=account_id,
            name=f"acct-{account_id[:3]}",
            role_arn=role_arn(account_id),
            external_id=f"ext-{account_id}",
            regions=["us-east-1"],
        )
        aws_account.client(account_id, "ec2").create_volume(
            Size=1, AvailabilityZone="us-east-1a", Encrypted=False
        )

    scan = services.scan_start(trigger=Scan.Trigger.CLI)

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and worker.poll() is None:
        scan.refresh_from_db()
        if scan.is_finished:
            break
        time.sleep(1)
    assert scan.is_finished, f"scan still {scan.state}"
    assert scan.state in (Scan.State.COMPLETED, Scan.State.PARTIAL)
    states = set(scan.account_scans.values_list("state", flat=True))
    assert states <= {Scan.State.COMPLETED, Scan.State.PARTIAL}
    for account_id in ACCOUNTS:
        assert Finding.objects.filter(
            account__account_id=account_id, check_id="ebs_volume_encrypted", status="FAIL"
        ).exists()
