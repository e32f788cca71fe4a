"""The demo stays meaningful: across its three accounts, every check passes somewhere and fails somewhere.

The accounts are seeded in-process (moto's `mock_aws`) and judged by the real collectors and checks,
exactly as a scan does. A new check without demo data fails here, and so does a seed change that
removes the last failing or passing resource of a check.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from django.test import override_settings
from django.utils import timezone
from moto import mock_aws

from posture import engine
from posture.checks.base import Status, registry
from sandbox import patches
from sandbox.demo_accounts import DEMO_ACCOUNTS, seed_demo
from sandbox.seed import SimulatedAccount, seed_sized
from sandbox.timeline import TIMELINE

CHECK_IDS = sorted(registry())


@pytest.fixture(scope="module")
def demo_world():
    """Seed the demo accounts once; yield (administrator clients, statuses per check id)."""
    now = timezone.now()
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_demo(endpoint_url=None, now=now)
        statuses: dict[str, set[str]] = defaultdict(set)
        for account in DEMO_ACCOUNTS:
            outcome = engine.account_scan(
                account_id=account.account_id,
                role_arn=account.role_arn,
                external_id=account.external_id,
                partition="aws",
                configured_regions=list(account.regions),
                thresholds={},
                now=now,
            )
            for result in outcome.results:
                statuses[result.check_id].add(result.status)
        yield clients, statuses


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_passes_somewhere(demo_world, check_id):
    _, statuses = demo_world
    assert Status.PASS in statuses[check_id], f"{check_id} gave only {sorted(statuses[check_id])}"


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_check_fails_somewhere(demo_world, check_id):
    _, statuses = demo_world
    assert Status.FAIL in statuses[check_id], f"{check_id} gave only {sorted(statuses[check_id])}"


def test_timeline_changes_apply(demo_world):
    """Every change between the demo's scans goes through against the seeded accounts."""
    clients, _ = demo_world
    with override_settings(AWS_ENDPOINT_URL=""):
        applied = []
        for entry in TIMELINE:
            for change in entry.changes:
                change.apply(clients[change.account.account_id])
                applied.append(change.summary)
    assert len(applied) == sum(len(entry.changes) for entry in TIMELINE)


def test_timeline_notes_fit_the_column():
    for entry in TIMELINE:
        assert len(entry.note()) <= 200, entry.note()


def test_timeline_dates_go_forward():
    days_back = [entry.days_back for entry in TIMELINE]
    assert days_back == sorted(days_back, reverse=True)


def test_seed_sized_counts():
    account = SimulatedAccount("222233334444", "Benchmark", "bench", "bench-external-id")
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_sized(account, endpoint_url=None, users=7, buckets=3, security_groups=6, volumes=4)
        ec2 = clients.client("ec2")
        groups = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
        counts = {
            "users": len(clients.client("iam").list_users()["Users"]),
            "buckets": len(clients.client("s3").list_buckets()["Buckets"]),
            "security_groups": len(groups),
            "volumes": len(ec2.describe_volumes()["Volumes"]),
        }
    assert counts == {"users": 7, "buckets": 3, "security_groups": 6, "volumes": 4}


def test_seed_sized_mixes_open_groups():
    account = SimulatedAccount("222233334444", "Benchmark", "bench", "bench-external-id")
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_sized(account, endpoint_url=None, users=0, buckets=0, security_groups=10, volumes=0)
        open_ssh = clients.client("ec2").describe_security_groups(
            Filters=[{"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]}]
        )["SecurityGroups"]
    assert len(open_ssh) == 2
