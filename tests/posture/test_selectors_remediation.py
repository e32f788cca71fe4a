"""Ages of failing findings and mean time to remediate, read from the scans' status events."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.roles import ADMIN, ANALYST
from posture import services
from posture.checks.base import Area, Severity, Status
from posture.models import Finding, FindingEvent, Scan
from posture.selectors import remediation
from posture.selectors.remediation import AREA, SEVERITY
from tests.factories import (
    AccountFactory,
    FindingEventFactory,
    FindingFactory,
    ScanFactory,
    UserFactory,
    install_fake_checks,
    result,
)
from triage import services as triage_services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
CHECK = "fake_monitoring_trail"  # high, monitoring
LOW_CHECK = "fake_monitoring_alarm"  # low, monitoring
HIGH = (SEVERITY, Severity.HIGH.value)
MONITORING = (AREA, Area.MONITORING.value)


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def failing_since(when: dt.datetime, **fields) -> Finding:
    """A current failing finding whose only status event opened it at `when`."""
    finding = FindingFactory(first_seen_at=when, **fields)
    FindingEventFactory(
        finding=finding,
        kind=FindingEvent.Kind.OPENED,
        field="status",
        new_status=Status.FAIL,
        created_at=when,
    )
    return finding


def scan(account, statuses: dict[str, Status], *, at: dt.datetime) -> Scan:
    """Store one scan of `account` that saw each named resource with its status, as a scan would."""
    stored = ScanFactory(state=Scan.State.RUNNING, scanned_at=at)
    results = [
        result(CHECK, status, resource_id=f"arn:aws:ec2:us-east-1:{account.account_id}:volume/{name}")
        for name, status in statuses.items()
    ]
    services.findings_sync(scan=stored, account=account, results=results)
    return stored


# Ages.
@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (dt.timedelta(0), 0),
        (dt.timedelta(days=7), 0),
        (dt.timedelta(days=8) - dt.timedelta(seconds=1), 0),
        (dt.timedelta(days=8), 1),
        (dt.timedelta(days=30, hours=23), 1),
        (dt.timedelta(days=31), 2),
        (dt.timedelta(days=90), 2),
        (dt.timedelta(days=91), 3),
        (dt.timedelta(days=400), 3),
    ],
)
def test_finding_ages_bucket_boundaries(age, bucket):
    failing_since(NOW - age)
    expected = [0, 0, 0, 0]
    expected[bucket] = 1
    assert list(remediation.finding_ages(now=NOW)[HIGH].buckets) == expected


def test_finding_ages_median_and_oldest():
    for days in (2, 10, 40, 100):
        failing_since(days_ago(days))
    ages = remediation.finding_ages(now=NOW)[HIGH]
    assert ages.buckets == (1, 1, 1, 1)
    assert ages.median_days == 25
    assert ages.oldest_days == 100


def test_finding_ages_median_odd_count_in_whole_days():
    for days in (1, 5.5, 30):
        failing_since(days_ago(days))
    assert remediation.finding_ages(now=NOW)[HIGH].median_days == 5


def test_finding_ages_by_severity_and_area():
    failing_since(days_ago(3))
    failing_since(days_ago(3), check_id="fake_access_ports", area=Area.ACCESS, severity=Severity.CRITICAL)
    ages = remediation.finding_ages(now=NOW)
    assert ages[HIGH].failing == 1
    assert ages[(SEVERITY, Severity.CRITICAL.value)].failing == 1
    assert ages[MONITORING].failing == 1
    assert ages[(AREA, Area.ACCESS.value)].failing == 1
    assert (SEVERITY, Severity.LOW.value) not in ages


def test_finding_ages_reopened_failure_ages_from_reopen():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(100))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(50))
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(20))
    assert remediation.finding_ages(now=NOW)[HIGH].oldest_days == 20


def test_finding_ages_unknown_result_restarts_failure():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(60))
    scan(account, {"vol-1": Status.UNKNOWN}, at=days_ago(40))
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(20))
    assert remediation.finding_ages(now=NOW)[HIGH].oldest_days == 20


def test_finding_ages_unknown_first_then_failing():
    account = AccountFactory()
    scan(account, {"vol-1": Status.UNKNOWN}, at=days_ago(60))
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(20))
    assert remediation.finding_ages(now=NOW)[HIGH].oldest_days == 20


def test_finding_ages_skip_passing_and_gone_findings():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL, "vol-2": Status.FAIL, "vol-3": Status.PASS}, at=days_ago(10))
    scan(account, {"vol-1": Status.FAIL, "vol-3": Status.PASS}, at=days_ago(5))
    assert remediation.finding_ages(now=NOW)[HIGH].failing == 1


def test_finding_ages_from_status_change():
    FindingFactory(first_seen_at=days_ago(200), status_changed_at=days_ago(12))
    assert remediation.finding_ages(now=NOW)[HIGH].oldest_days == 12


def test_finding_ages_filter_by_accounts():
    chosen = AccountFactory()
    failing_since(days_ago(3), account=chosen)
    failing_since(days_ago(3), account=AccountFactory())
    assert remediation.finding_ages(accounts=[chosen.pk], now=NOW)[HIGH].failing == 1


def test_finding_ages_empty_account_list():
    failing_since(days_ago(3))
    assert remediation.finding_ages(accounts=[], now=NOW) == {}


def test_finding_ages_one_query(django_assert_num_queries):
    failing_since(days_ago(3))
    with django_assert_num_queries(1):
        remediation.finding_ages(now=NOW)


# Exceptions.
@pytest.fixture
def excepted():
    """A failing finding under an accepted risk that expires in 10 days, and one without exception."""
    account = AccountFactory(account_id="111111111111")
    services.findings_sync(
        scan=ScanFactory(state=Scan.State.RUNNING, scanned_at=days_ago(30)),
        account=account,
        results=[result(CHECK, Status.FAIL), result(LOW_CHECK, Status.FAIL)],
    )
    analyst = UserFactory(roles=[ANALYST])
    admin = UserFactory(roles=[ADMIN])
    proposed = triage_services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Lab account",
        expires_at=NOW + dt.timedelta(days=10),
        check_id=CHECK,
        now=NOW,
    )
    return triage_services.exception_approve(user=admin, exception_id=proposed.pk, now=NOW)


def test_finding_ages_skip_valid_exception(excepted):
    ages = remediation.finding_ages(now=NOW)
    assert HIGH not in ages
    assert ages[MONITORING].failing == 1


def test_finding_ages_count_expired_exception(excepted):
    ages = remediation.finding_ages(now=NOW + dt.timedelta(days=11))
    assert ages[HIGH].failing == 1


def test_finding_ages_count_disabled_exception(excepted):
    FindingException.objects.filter(pk=excepted.pk).update(enabled=False)
    assert remediation.finding_ages(now=NOW)[HIGH].failing == 1


# Mean time to remediate.
def test_remediation_times_mean_over_several():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL, "vol-2": Status.FAIL, "vol-3": Status.FAIL}, at=days_ago(30))
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.FAIL, "vol-3": Status.FAIL}, at=days_ago(28))
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.PASS, "vol-3": Status.FAIL}, at=days_ago(24))
    times = remediation.remediation_times(now=NOW)[HIGH]
    assert times.count == 2
    assert times.mean_days == pytest.approx(4.0)


def test_remediation_times_reopened_failure_from_reopen():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(60))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(50))
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(20))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(19))
    times = remediation.remediation_times(now=NOW)[HIGH]
    assert times.count == 2
    assert times.mean_days == pytest.approx(5.5)


def test_remediation_times_unknown_result_not_remediation():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(30))
    scan(account, {"vol-1": Status.UNKNOWN}, at=days_ago(20))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(10))
    assert remediation.remediation_times(now=NOW) == {}


def test_remediation_times_not_applicable_counts():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(5))
    scan(account, {"vol-1": Status.NOT_APPLICABLE}, at=days_ago(2))
    assert remediation.remediation_times(now=NOW)[HIGH].mean_days == pytest.approx(3.0)


def test_remediation_times_skip_pass_without_failure():
    account = AccountFactory()
    scan(account, {"vol-1": Status.UNKNOWN}, at=days_ago(5))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(2))
    assert remediation.remediation_times(now=NOW) == {}


def test_remediation_times_window_counts_recent_only():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL, "vol-2": Status.FAIL}, at=days_ago(200))
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.FAIL}, at=days_ago(91))
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.PASS}, at=days_ago(89))
    times = remediation.remediation_times(now=NOW)[HIGH]
    assert times.count == 1
    assert times.mean_days == pytest.approx(111.0)


def test_remediation_times_by_area():
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(5))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(4))
    times = remediation.remediation_times(now=NOW)
    assert times[MONITORING].count == 1
    assert (AREA, Area.ACCESS.value) not in times


def test_remediation_times_filter_by_accounts():
    chosen, other = AccountFactory(), AccountFactory()
    for account, fixed_days_ago in ((chosen, 8), (other, 2)):
        scan(account, {"vol-1": Status.FAIL}, at=days_ago(10))
        scan(account, {"vol-1": Status.PASS}, at=days_ago(fixed_days_ago))
    times = remediation.remediation_times(accounts=[chosen.pk], now=NOW)[HIGH]
    assert times.count == 1
    assert times.mean_days == pytest.approx(2.0)


def test_remediation_times_two_queries(django_assert_num_queries):
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL}, at=days_ago(5))
    scan(account, {"vol-1": Status.PASS}, at=days_ago(4))
    with django_assert_num_queries(2):
        remediation.remediation_times(now=NOW)


def test_remediation_times_cached_until_next_event(django_assert_num_queries):
    account = AccountFactory()
    scan(account, {"vol-1": Status.FAIL, "vol-2": Status.FAIL}, at=days_ago(5))
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.FAIL}, at=days_ago(4))
    remediation.remediation_times(now=NOW)
    with django_assert_num_queries(1):
        assert remediation.remediation_times(now=NOW)[HIGH].count == 1
    scan(account, {"vol-1": Status.PASS, "vol-2": Status.PASS}, at=days_ago(3))
    assert remediation.remediation_times(now=NOW)[HIGH].count == 2


def test_remediation_times_cached_per_account_scope():
    chosen, other = AccountFactory(), AccountFactory()
    for account in (chosen, other):
        scan(account, {"vol-1": Status.FAIL}, at=days_ago(10))
        scan(account, {"vol-1": Status.PASS}, at=days_ago(5))
    assert remediation.remediation_times(now=NOW)[HIGH].count == 2
    assert remediation.remediation_times(accounts=[chosen.pk], now=NOW)[HIGH].count == 1


# Summary.
def test_remediation_summary_rows_every_severity_and_area():
    summary = remediation.remediation_summary(now=NOW)
    assert [row.key for row in summary.by_severity] == [severity.value for severity in Severity]
    assert [row.key for row in summary.by_area] == [area.value for area in Area]


def test_remediation_summary_empty_rows_have_no_figures():
    row = remediation.remediation_summary(now=NOW).by_severity[0]
    assert row.ages.failing == 0
    assert row.ages.oldest_days is None
    assert row.remediated.mean_days is None


def test_age_bucket_labels():
    assert remediation.age_bucket_labels() == ["0–7 days", "8–30 days", "31–90 days", "over 90 days"]
