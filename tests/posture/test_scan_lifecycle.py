"""Scans end to end against in-process moto: state machine, idempotency, multi-account, history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from moto.sts.models import sts_backends

from accounts.models import Account
from posture import services, tasks
from posture.checks.base import Status
from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot
from tests.aws import aws_account, error_response, role_arn

pytestmark = pytest.mark.django_db

PROD = "111111111111"
STAGING = "222222222222"


def register(account_id: str, name: str, external_id: str = "ext-id-1234") -> Account:
    return Account.objects.create(
        account_id=account_id,
        name=name,
        role_arn=role_arn(account_id),
        external_id=external_id,
        regions=["us-east-1"],
    )


def seed_failures(account_id: str) -> None:
    """A little of everything that fails: an unencrypted volume, an SSH rule open to the world."""
    ec2 = aws_account.client(account_id, "ec2")
    ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=False)
    group = ec2.create_security_group(GroupName="web", Description="web")
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )


def run_scan(django_capture_on_commit_callbacks, **kwargs) -> Scan:
    with django_capture_on_commit_callbacks(execute=True):
        scan = services.scan_start(trigger=Scan.Trigger.CLI, **kwargs)
    scan.refresh_from_db()
    return scan


def test_scan_completes_with_snapshots(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    seed_failures(PROD)
    scan = run_scan(django_capture_on_commit_callbacks)
    assert scan.state in (Scan.State.COMPLETED, Scan.State.PARTIAL)
    assert scan.finished_at is not None
    assert ScoreSnapshot.objects.filter(scan=scan).count() == 5
    assert Finding.objects.filter(account__account_id=PROD).exists()


def test_scan_records_per_check_counts(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    scan = run_scan(django_capture_on_commit_callbacks)
    counts = CheckCount.objects.filter(scan=scan)
    total = sum(c.passed + c.failed + c.unknown + c.not_applicable for c in counts)
    assert total == Finding.objects.filter(last_scan=scan).count()


def test_rescan_unchanged_adds_no_events(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    seed_failures(PROD)
    run_scan(django_capture_on_commit_callbacks)
    findings_before = set(Finding.objects.values_list("pk", "status"))
    events_before = FindingEvent.objects.count()

    run_scan(django_capture_on_commit_callbacks)

    assert set(Finding.objects.values_list("pk", "status")) == findings_before
    assert FindingEvent.objects.count() == events_before


def test_account_task_twice_changes_nothing(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    scan = run_scan(django_capture_on_commit_callbacks)
    account_scan = scan.account_scans.get()
    findings = list(Finding.objects.order_by("pk").values())
    events = FindingEvent.objects.count()

    tasks.scan_account(account_scan.pk)

    assert list(Finding.objects.order_by("pk").values()) == findings
    assert FindingEvent.objects.count() == events
    assert AccountScan.objects.get(pk=account_scan.pk).finished_at == account_scan.finished_at


def test_fix_between_scans_resolves_finding(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    ec2 = aws_account.client(PROD, "ec2")
    ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=False)
    run_scan(django_capture_on_commit_callbacks)
    failing = Finding.objects.filter(status=Status.FAIL).count()
    assert failing > 0

    for volume in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=volume["VolumeId"])
    ec2.enable_ebs_encryption_by_default()
    scan = run_scan(django_capture_on_commit_callbacks)

    kinds = set(FindingEvent.objects.filter(scan=scan).values_list("kind", flat=True))
    assert kinds & {FindingEvent.Kind.RESOLVED, FindingEvent.Kind.GONE}


def test_external_id_sent_is_registered_one(mock_aws_env, django_capture_on_commit_callbacks):
    register(PROD, "prod", external_id="prod-external-id")
    run_scan(django_capture_on_commit_callbacks)
    assumed = sts_backends[PROD]["aws"].assumed_roles
    assert assumed
    assert {role.external_id for role in assumed} == {"prod-external-id"}


def test_refused_role_fails_only_that_account(mock_aws_env, aws_fakes, django_capture_on_commit_callbacks):
    register(PROD, "prod")
    register(STAGING, "staging")

    def assume_role(params):
        if f"::{STAGING}:" in params["RoleArn"]:
            return error_response("AccessDenied", "Not authorized to perform sts:AssumeRole", 403)
        return None  # the call goes on to moto

    aws_fakes.add("sts", "AssumeRole", assume_role)
    scan = run_scan(django_capture_on_commit_callbacks)

    failed = scan.account_scans.get(account__account_id=STAGING)
    done = scan.account_scans.get(account__account_id=PROD)
    assert scan.state == Scan.State.PARTIAL
    assert failed.state == AccountScan.State.FAILED
    assert failed.error_code == "AccessDenied"
    assert "sts:AssumeRole" in failed.error_message
    assert done.state in (AccountScan.State.COMPLETED, AccountScan.State.PARTIAL)


def test_refused_role_lowers_coverage(mock_aws_env, aws_fakes, django_capture_on_commit_callbacks):
    register(STAGING, "staging")
    aws_fakes.deny("sts", "AssumeRole")
    scan = run_scan(django_capture_on_commit_callbacks)
    snapshots = ScoreSnapshot.objects.filter(scan=scan)
    assert scan.state == Scan.State.FAILED
    assert all(s.results_decided == 0 and s.results_expected > 0 for s in snapshots)
    assert all(s.denominator == 0 for s in snapshots)


def test_reaper_fails_stuck_account_scan(mock_aws_env, settings):
    account = register(PROD, "prod")
    scan = Scan.objects.create(trigger=Scan.Trigger.CLI, ruleset_version="x", scanned_at=timezone.now())
    AccountScan.objects.create(scan=scan, account=account, state=AccountScan.State.RUNNING)
    later = timezone.now() + dt.timedelta(seconds=settings.SCAN_STUCK_AFTER + 1)

    assert services.account_scans_reap(now=later) == 1

    scan.refresh_from_db()
    assert scan.state == Scan.State.FAILED
    assert scan.account_scans.get().error_code == "Stuck"


def test_reaper_leaves_recent_scans(mock_aws_env):
    account = register(PROD, "prod")
    scan = Scan.objects.create(trigger=Scan.Trigger.CLI, ruleset_version="x", scanned_at=timezone.now())
    AccountScan.objects.create(scan=scan, account=account, state=AccountScan.State.RUNNING)
    assert services.account_scans_reap() == 0


def test_scan_without_accounts_rejected():
    with pytest.raises(services.NoAccountsToScan):
        services.scan_start(trigger=Scan.Trigger.CLI)


@pytest.mark.django_db(transaction=True)
def test_scan_command_waits_and_prints_scores(mock_aws_env, capsys):
    register(PROD, "prod")
    call_command("scan", "--account", PROD, "--wait")
    output = capsys.readouterr().out
    assert "Overall" in output
    assert "Security monitoring" in output


def test_scan_command_rejects_bad_account_id():
    with pytest.raises(CommandError, match="12345: .*exactly 12 digits|Invalid account id"):
        call_command("scan", "--account", "12345")


def test_scan_command_rejects_unregistered_account():
    with pytest.raises(CommandError, match="not registered: 999999999999"):
        call_command("scan", "--account", "999999999999")


def test_scan_of_chosen_accounts_marked(mock_aws_env, django_capture_on_commit_callbacks):
    prod = register(PROD, "prod")
    register(STAGING, "staging")
    chosen = run_scan(django_capture_on_commit_callbacks, accounts=[prod])
    everyone = run_scan(django_capture_on_commit_callbacks)
    listed = run_scan(django_capture_on_commit_callbacks, accounts=list(Account.objects.all()))
    assert chosen.all_accounts is False
    assert listed.all_accounts is True
    assert set(ScoreSnapshot.objects.filter(scan=chosen).values_list("all_accounts", flat=True)) == {False}
    assert everyone.all_accounts is True


def test_failed_account_expects_newest_previous_count():
    account = register(PROD, "prod")
    now = timezone.now()
    for days, expected in ((10, 500), (5, 900)):
        old = Scan.objects.create(
            trigger=Scan.Trigger.CLI, ruleset_version="x", scanned_at=now - dt.timedelta(days=days)
        )
        ScoreSnapshot.objects.create(
            scan=old,
            account=account,
            area="access",
            scanned_at=old.scanned_at,
            ruleset_version="x",
            numerator=1,
            raw_numerator=1,
            denominator=1,
            results_expected=expected,
            results_decided=expected,
        )
    scan = Scan.objects.create(trigger=Scan.Trigger.CLI, ruleset_version="x", scanned_at=now)
    AccountScan.objects.create(scan=scan, account=account, state=AccountScan.State.FAILED)

    services.snapshots_write(scan)

    assert ScoreSnapshot.objects.get(scan=scan, area="access").results_expected == 900
