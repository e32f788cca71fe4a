"""Users in each role, an account with fake checks, and a helper that runs one account's scan.

`rescan` goes through posture.services.findings_sync with hand-made results, so triage is tested
against exactly what a scan writes, without AWS and fast enough for a hundred scans per test.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.roles import ADMIN, ANALYST, VIEWER
from posture import services
from posture.checks.base import Result, Status
from posture.models import Scan
from tests.factories import AccountFactory, ScanFactory, UserFactory, install_fake_checks, result

CHECK = "fake_monitoring_trail"  # high, monitoring
OTHER_CHECK = "fake_configuration_encryption"  # medium, configuration


@pytest.fixture
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def analyst(db):
    return UserFactory(username="analyst", roles=[ANALYST])


@pytest.fixture
def analyst2(db):
    return UserFactory(username="analyst2", roles=[ANALYST])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin1", roles=[ADMIN])


@pytest.fixture
def admin2(db):
    return UserFactory(username="admin2", roles=[ADMIN])


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer", roles=[VIEWER])


@pytest.fixture
def outsider(db):
    """Logged in, but without any dashboard role."""
    return UserFactory(username="outsider")


@pytest.fixture
def account(db):
    return AccountFactory(account_id="111111111111", name="production")


def arn(name: str, account_id: str = "111111111111", region: str = "us-east-1") -> str:
    return f"arn:aws:ec2:{region}:{account_id}:volume/{name}"


def rescan(account, results: list[Result], *, scanned_at: dt.datetime | None = None) -> Scan:
    """Store one scan of the account: findings, coverage and triage, as a scan would."""
    scan = ScanFactory(state=Scan.State.RUNNING, scanned_at=scanned_at or timezone.now())
    services.findings_sync(scan=scan, account=account, results=results)
    return scan


def fail(
    name: str,
    *,
    check_id: str = CHECK,
    region: str = "us-east-1",
    account_id: str = "111111111111",
    tags=None,
):
    evidence = (
        {"Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]} if tags is not None else None
    )
    return result(
        check_id, Status.FAIL, resource_id=arn(name, account_id, region), region=region, evidence=evidence
    )


def passed(name: str, *, check_id: str = CHECK, region: str = "us-east-1", account_id: str = "111111111111"):
    return result(check_id, Status.PASS, resource_id=arn(name, account_id, region), region=region)
