"""Tag-scoped exception rules against real scans: the collector's tags reach Finding.tags through the
check's evidence, and an approved rule covers the scanned finding."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account
from posture import services as posture_services
from posture.models import Finding, Scan
from tests.aws import aws_account, role_arn
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

ACCOUNT = "111111111111"
REGION = "us-east-1"
CHECK = "ebs_volume_encrypted"
SCRATCH = {"backup-tier": "scratch"}


@pytest.fixture
def scanned_account(mock_aws_env):
    return Account.objects.create(
        account_id=ACCOUNT,
        name="production",
        role_arn=role_arn(ACCOUNT),
        external_id="ext-id-1234",
        regions=[REGION],
    )


def create_volume(tags: dict[str, str]) -> str:
    tag_specifications = [
        {"ResourceType": "volume", "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}
    ]
    return aws_account.client(ACCOUNT, "ec2", REGION).create_volume(
        Size=1, AvailabilityZone=f"{REGION}a", Encrypted=False, TagSpecifications=tag_specifications
    )["VolumeId"]


def run_scan(django_capture_on_commit_callbacks) -> Scan:
    with django_capture_on_commit_callbacks(execute=True):
        scan = posture_services.scan_start(trigger=Scan.Trigger.CLI)
    scan.refresh_from_db()
    return scan


def volume_finding(volume_id: str) -> Finding:
    return Finding.objects.get(
        check_id=CHECK, resource_id=f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume_id}"
    )


def approve_scratch_rule(analyst, admin_user) -> FindingException:
    exception = services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Scratch volumes hold no data worth encrypting.",
        expires_at=timezone.now() + dt.timedelta(days=30),
        check_id=CHECK,
        tags=SCRATCH,
    )
    return services.exception_approve(user=admin_user, exception_id=exception.pk)


def test_scanned_finding_holds_resource_tags(scanned_account, django_capture_on_commit_callbacks):
    volume_id = create_volume({**SCRATCH, "Name": "tmp-build"})
    run_scan(django_capture_on_commit_callbacks)
    assert volume_finding(volume_id).tags == {"backup-tier": "scratch", "Name": "tmp-build"}


def test_rule_approved_after_scan_covers_tagged_finding(
    scanned_account, analyst, admin_user, django_capture_on_commit_callbacks
):
    volume_id = create_volume(SCRATCH)
    run_scan(django_capture_on_commit_callbacks)
    exception = approve_scratch_rule(analyst, admin_user)
    assert volume_finding(volume_id).exception_id == exception.pk


def test_rule_covers_tagged_finding_on_next_scan(
    scanned_account, analyst, admin_user, django_capture_on_commit_callbacks
):
    exception = approve_scratch_rule(analyst, admin_user)
    volume_id = create_volume(SCRATCH)
    run_scan(django_capture_on_commit_callbacks)
    finding = volume_finding(volume_id)
    assert finding.triage_state == Finding.TriageState.RISK_ACCEPTED
    assert finding.exception_id == exception.pk


def test_rule_leaves_untagged_finding_open(
    scanned_account, analyst, admin_user, django_capture_on_commit_callbacks
):
    approve_scratch_rule(analyst, admin_user)
    volume_id = create_volume({"backup-tier": "gold"})
    run_scan(django_capture_on_commit_callbacks)
    assert volume_finding(volume_id).triage_state == Finding.TriageState.OPEN
