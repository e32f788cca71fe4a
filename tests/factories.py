"""factory_boy factories for the models, and helpers that store a finished scan without AWS.

Scores and findings in these helpers go through the real services (`findings_sync`,
`snapshots_write`), so tests read exactly what a scan would have written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import factory
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.models import Account
from posture import services
from posture.checks import base
from posture.checks.base import (
    Area,
    CheckDefinition,
    EmptyScope,
    Remediation,
    Result,
    Severity,
    Status,
    Threshold,
)
from posture.models import AccountScan, Finding, FindingEvent, Scan, ScoreSnapshot


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `UserFactory(roles=["viewer"])` puts it in those role groups."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    # Unusable by default, because hashing a real password takes most of a second. Tests log in
    # with force_login, or pass `password=` to log in through the form.
    password = factory.django.Password(None)

    @factory.post_generation
    def roles(self, create: bool, extracted: Iterable[str] | None, **kwargs) -> None:
        if not create or not extracted:
            return
        for name in extracted:
            group, _ = Group.objects.get_or_create(name=name)
            self.groups.add(group)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    account_id = factory.Sequence(lambda n: f"{100000000000 + n:012d}")
    name = factory.Sequence(lambda n: f"account-{n:03d}")
    role_arn = factory.LazyAttribute(lambda a: f"arn:aws:iam::{a.account_id}:role/BackupPostureReadOnly")
    external_id = "test-external-id"
    regions = factory.LazyFunction(lambda: ["us-east-1"])


class ScanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scan

    trigger = Scan.Trigger.MANUAL
    state = Scan.State.COMPLETED
    ruleset_version = "test-ruleset"
    thresholds = factory.LazyFunction(dict)
    scanned_at = factory.LazyFunction(timezone.now)


class AccountScanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountScan

    scan = factory.SubFactory(ScanFactory)
    account = factory.SubFactory(AccountFactory)
    state = AccountScan.State.COMPLETED
    regions = factory.LazyFunction(lambda: ["us-east-1"])
    regions_done = 1


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    account = factory.SubFactory(AccountFactory)
    region = "us-east-1"
    check_id = "fake_monitoring_trail"
    resource_id = factory.Sequence(lambda n: f"arn:aws:ec2:us-east-1:111111111111:volume/vol-{n:08x}")
    resource_type = "volume"
    area = Area.MONITORING
    severity = Severity.HIGH
    status = Status.FAIL
    reason = "The resource fails the check."
    evidence = factory.LazyFunction(lambda: {"encrypted": False})
    thresholds = factory.LazyFunction(dict)
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyAttribute(lambda f: f.first_seen_at)
    status_changed_at = factory.LazyAttribute(lambda f: f.first_seen_at)
    is_current = True


class FindingEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FindingEvent

    finding = factory.SubFactory(FindingFactory)
    kind = FindingEvent.Kind.OPENED
    new_status = Status.FAIL
    created_at = factory.LazyFunction(timezone.now)


class ScoreSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoreSnapshot

    scan = factory.SubFactory(ScanFactory)
    account = factory.SubFactory(AccountFactory)
    area = Area.MONITORING
    scanned_at = factory.LazyAttribute(lambda s: s.scan.scanned_at)
    ruleset_version = "test-ruleset"
    numerator = 1.0
    raw_numerator = factory.LazyAttribute(lambda s: s.numerator)
    denominator = 1.0
    results_expected = 1
    results_decided = 1
    passed = 1


# Checks with known areas and severities, so score tests do not depend on the real check modules.
def check_definition(
    check_id: str,
    area: Area,
    severity: Severity,
    *,
    thresholds: tuple[Threshold, ...] = (),
) -> CheckDefinition:
    return CheckDefinition(
        id=check_id,
        area=area,
        title=f"Title of {check_id}",
        severity=severity,
        resource_type="volume",
        decides="Whether the resource is configured safely.",
        rationale=f"Rationale of {check_id}.",
        remediation=Remediation(console=f"Console steps of {check_id}.", cli=f"aws fix {check_id}"),
        empty=EmptyScope.REGION,
        func=lambda ctx: None,
        thresholds=thresholds,
    )


FAKE_CHECKS = (
    check_definition(
        "fake_monitoring_trail",
        Area.MONITORING,
        Severity.HIGH,
        thresholds=(Threshold("max_age_days", 90, "days", "Oldest allowed log file."),),
    ),
    check_definition("fake_monitoring_alarm", Area.MONITORING, Severity.LOW),
    check_definition("fake_authentication_mfa", Area.AUTHENTICATION, Severity.CRITICAL),
    check_definition("fake_configuration_encryption", Area.CONFIGURATION, Severity.MEDIUM),
    check_definition("fake_inactive_keys", Area.INACTIVE, Severity.LOW),
    check_definition("fake_access_ports", Area.ACCESS, Severity.HIGH),
)


def install_fake_checks(monkeypatch: pytest.MonkeyPatch) -> dict[str, CheckDefinition]:
    """Replace the check registry with FAKE_CHECKS until the test ends.

    The real check modules are imported first, so they register into the real registry and not
    into the replacement.
    """
    base.registry()
    replacement = {definition.id: definition for definition in FAKE_CHECKS}
    monkeypatch.setattr(base, "_REGISTRY", replacement)
    return replacement


def result(
    check_id: str,
    status: Status = Status.PASS,
    *,
    resource_id: str = "arn:aws:ec2:us-east-1:111111111111:volume/vol-1",
    region: str = "us-east-1",
    evidence: dict | None = None,
) -> Result:
    return Result(
        check_id=check_id,
        region=region,
        resource_id=resource_id,
        resource_type="volume",
        status=status,
        reason=f"{check_id} is {status}.",
        evidence=evidence or {},
    )


def finished_scan(
    results_by_account: dict[Account, list[Result] | None],
    *,
    scanned_at: dt.datetime | None = None,
    note: str = "",
) -> Scan:
    """Store a finished scan: findings, per-account states and score snapshots, as a scan would.

    An account mapped to None stands for one whose role could not be assumed: its account scan is
    failed with AccessDenied and its snapshots carry no score.
    """
    scan = ScanFactory(
        state=Scan.State.RUNNING,
        scanned_at=scanned_at or timezone.now(),
        note=note,
        thresholds={d.id: d.default_thresholds() for d in base.registry().values()},
    )
    for account, results in results_by_account.items():
        if results is None:
            AccountScanFactory(
                scan=scan,
                account=account,
                state=AccountScan.State.FAILED,
                regions_done=0,
                error_code="AccessDenied",
                error_message="Not authorized to perform sts:AssumeRole",
            )
            continue
        services.findings_sync(scan=scan, account=account, results=results)
        counts = {status.value: 0 for status in Status}
        for item in results:
            counts[item.status] += 1
        AccountScanFactory(
            scan=scan,
            account=account,
            state=AccountScan.State.PARTIAL if counts[Status.UNKNOWN] else AccountScan.State.COMPLETED,
            counts=counts,
        )
    services.scan_finish_if_done(scan_id=scan.pk)
    scan.refresh_from_db()
    return scan
