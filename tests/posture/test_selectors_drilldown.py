from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from posture import services
from posture.checks.base import Area, Status
from posture.models import Finding, Scan
from posture.selectors import drilldown
from tests.factories import (
    AccountFactory,
    FindingFactory,
    ScanFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

VOLUME = "arn:aws:ec2:us-east-1:111111111111:volume/vol-{}"


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


def scan_with_counts(results_by_account, *, days_ago: int = 0) -> Scan:
    """Store a finished scan with the per-check counts a real scan writes beside its findings."""
    scan = finished_scan(results_by_account, scanned_at=timezone.now() - dt.timedelta(days=days_ago))
    for account, results in results_by_account.items():
        if results is not None:
            services._check_counts_store(scan, account, results)
    return scan


def volumes(check_id: str, statuses: list[Status]) -> list:
    return [result(check_id, status, resource_id=VOLUME.format(n)) for n, status in enumerate(statuses)]


def row_of(rows, check_id: str):
    return next(row for row in rows if row.definition.id == check_id)


# Trend scans.
def test_trend_scans_oldest_first_and_limited():
    old = ScanFactory(scanned_at=timezone.now() - dt.timedelta(days=3))
    middle = ScanFactory(scanned_at=timezone.now() - dt.timedelta(days=2))
    new = ScanFactory(scanned_at=timezone.now() - dt.timedelta(days=1))
    scans = drilldown.trend_scans(limit=2)
    assert [s.scan_id for s in scans] == [middle.pk, new.pk]
    assert old.pk not in [s.scan_id for s in scans]


def test_trend_scans_skip_failed_and_running():
    ScanFactory(state=Scan.State.FAILED)
    ScanFactory(state=Scan.State.RUNNING)
    partial = ScanFactory(state=Scan.State.PARTIAL)
    assert [s.scan_id for s in drilldown.trend_scans(limit=10)] == [partial.pk]


# Failing trends.
def test_failing_trends_sum_accounts_per_scan():
    alpha, bravo = AccountFactory(), AccountFactory()
    scan_with_counts(
        {
            alpha: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL]),
            bravo: volumes("fake_monitoring_trail", [Status.FAIL, Status.PASS]),
        }
    )
    scans = drilldown.trend_scans(limit=10)
    (point,) = drilldown.failing_trends(check_ids=["fake_monitoring_trail"], scans=scans)[
        "fake_monitoring_trail"
    ]
    assert point.failing == 3
    assert point.accounts == 2


def test_failing_trends_one_point_per_scan_in_order():
    account = AccountFactory()
    scan_with_counts({account: volumes("fake_monitoring_trail", [Status.FAIL] * 3)}, days_ago=2)
    scan_with_counts({account: volumes("fake_monitoring_trail", [Status.FAIL, Status.PASS])}, days_ago=1)
    scans = drilldown.trend_scans(limit=10)
    trend = drilldown.failing_trends(check_ids=["fake_monitoring_trail"], scans=scans)[
        "fake_monitoring_trail"
    ]
    assert [p.failing for p in trend] == [3, 1]
    assert [p.scan_id for p in trend] == [s.scan_id for s in scans]


def test_failing_trends_none_when_scan_lacks_check():
    account = AccountFactory()
    scan_with_counts({account: volumes("fake_monitoring_alarm", [Status.FAIL])}, days_ago=1)
    scan_with_counts({account: volumes("fake_monitoring_trail", [Status.FAIL])})
    scans = drilldown.trend_scans(limit=10)
    trend = drilldown.failing_trends(check_ids=["fake_monitoring_trail"], scans=scans)[
        "fake_monitoring_trail"
    ]
    assert [p.failing for p in trend] == [None, 1]
    assert trend[0].accounts == 0


def test_failing_trends_zero_failing_is_not_none():
    account = AccountFactory()
    scan_with_counts({account: volumes("fake_monitoring_trail", [Status.PASS])})
    scans = drilldown.trend_scans(limit=10)
    (point,) = drilldown.failing_trends(check_ids=["fake_monitoring_trail"], scans=scans)[
        "fake_monitoring_trail"
    ]
    assert point.failing == 0


def test_failing_trends_without_scans_empty():
    trends = drilldown.failing_trends(check_ids=["fake_monitoring_trail"], scans=[])
    assert trends == {"fake_monitoring_trail": []}


def test_failing_trends_one_query(django_assert_num_queries):
    accounts = [AccountFactory() for _ in range(3)]
    for days_ago in (2, 1, 0):
        scan_with_counts(
            {a: volumes("fake_monitoring_trail", [Status.FAIL]) for a in accounts}, days_ago=days_ago
        )
    scans = drilldown.trend_scans(limit=10)
    with django_assert_num_queries(1):
        drilldown.failing_trends(check_ids=["fake_monitoring_trail", "fake_monitoring_alarm"], scans=scans)


# Area checks.
def test_area_checks_lists_every_check_of_area():
    rows = drilldown.area_checks(area=Area.MONITORING, scans=[])
    assert sorted(r.definition.id for r in rows) == ["fake_monitoring_alarm", "fake_monitoring_trail"]


def test_area_checks_counts_current_findings():
    alpha, bravo, charlie = AccountFactory(), AccountFactory(), AccountFactory()
    finished_scan(
        {
            alpha: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL, Status.UNKNOWN]),
            bravo: volumes("fake_monitoring_trail", [Status.FAIL, Status.PASS]),
            charlie: volumes("fake_monitoring_trail", [Status.PASS]),
        }
    )
    row = row_of(drilldown.area_checks(area=Area.MONITORING, scans=[]), "fake_monitoring_trail")
    assert row.accounts_failing == 2
    assert row.accounts == 3
    assert row.counts.failing == 3
    assert row.counts.unknown == 1
    assert row.counts.passing == 2


def test_area_checks_ignore_findings_no_longer_current():
    FindingFactory(check_id="fake_monitoring_trail", status=Status.FAIL, is_current=False)
    row = row_of(drilldown.area_checks(area=Area.MONITORING, scans=[]), "fake_monitoring_trail")
    assert row.counts.failing == 0
    assert row.accounts == 0


def test_area_checks_ignore_other_areas():
    FindingFactory(check_id="fake_access_ports", area=Area.ACCESS, status=Status.FAIL)
    rows = drilldown.area_checks(area=Area.MONITORING, scans=[])
    assert all(r.counts.failing == 0 for r in rows)


def test_area_checks_worst_first_by_weight_lost():
    # The low-severity alarm fails in two accounts (weight 1 x 2), the high trail in one (4 x 1).
    alpha, bravo = AccountFactory(), AccountFactory()
    finished_scan(
        {
            alpha: volumes("fake_monitoring_alarm", [Status.FAIL] * 5)
            + [result("fake_monitoring_trail", Status.FAIL, resource_id="trail")],
            bravo: volumes("fake_monitoring_alarm", [Status.FAIL]),
        }
    )
    rows = drilldown.area_checks(area=Area.MONITORING, scans=[])
    assert [r.definition.id for r in rows] == ["fake_monitoring_trail", "fake_monitoring_alarm"]
    assert rows[0].score_weight_lost == 4


def test_area_checks_carry_trend():
    account = AccountFactory()
    scan_with_counts({account: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL])})
    scans = drilldown.trend_scans(limit=10)
    row = row_of(drilldown.area_checks(area=Area.MONITORING, scans=scans), "fake_monitoring_trail")
    assert [p.failing for p in row.trend] == [2]


def test_area_checks_two_queries(django_assert_num_queries):
    accounts = [AccountFactory() for _ in range(5)]
    scan_with_counts({a: volumes("fake_monitoring_trail", [Status.FAIL, Status.PASS]) for a in accounts})
    scans = drilldown.trend_scans(limit=10)
    with django_assert_num_queries(2):
        drilldown.area_checks(area=Area.MONITORING, scans=scans)


def test_area_score_from_snapshots():
    account = AccountFactory()
    # Monitoring: the high trail passes (4), the low alarm fails (1): 100 x 4 / 5 = 80.
    scan = finished_scan(
        {account: [result("fake_monitoring_trail"), result("fake_monitoring_alarm", Status.FAIL)]}
    )
    score = drilldown.area_score(area=Area.MONITORING, scan_id=scan.pk)
    assert score.score == pytest.approx(80.0)


def test_area_score_none_without_snapshots():
    assert drilldown.area_score(area=Area.MONITORING, scan_id=ScanFactory().pk) is None


# Check page.
def test_check_accounts_counts_per_account():
    alpha, bravo = AccountFactory(name="alpha"), AccountFactory(name="bravo")
    finished_scan(
        {
            alpha: volumes("fake_monitoring_trail", [Status.PASS, Status.NOT_APPLICABLE]),
            bravo: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL, Status.UNKNOWN]),
        }
    )
    rows = drilldown.check_accounts(check_id="fake_monitoring_trail")
    assert [r.name for r in rows] == ["bravo", "alpha"]
    assert rows[0].counts.failing == 2
    assert rows[0].counts.unknown == 1
    assert rows[1].counts.passing == 1
    assert rows[1].counts.not_applicable == 1
    assert rows[0].account_pk == bravo.pk


def test_check_accounts_skip_other_checks_and_gone():
    account = AccountFactory()
    FindingFactory(account=account, check_id="fake_monitoring_alarm")
    FindingFactory(account=account, check_id="fake_monitoring_trail", is_current=False)
    assert drilldown.check_accounts(check_id="fake_monitoring_trail") == []


def test_check_accounts_one_query(django_assert_num_queries):
    accounts = [AccountFactory() for _ in range(5)]
    finished_scan({a: volumes("fake_monitoring_trail", [Status.FAIL, Status.PASS]) for a in accounts})
    with django_assert_num_queries(1):
        rows = drilldown.check_accounts(check_id="fake_monitoring_trail")
    assert len(rows) == 5


def test_check_failing_only_current_failing_and_limited():
    account = AccountFactory()
    finished_scan({account: volumes("fake_monitoring_trail", [Status.FAIL] * 3 + [Status.PASS])})
    FindingFactory(check_id="fake_monitoring_trail", status=Status.FAIL, is_current=False)
    failing = drilldown.check_failing(check_id="fake_monitoring_trail", limit=2)
    assert len(failing) == 2
    assert all(f.status == Status.FAIL and f.is_current for f in failing)


def test_scan_thresholds_of_check():
    scan = ScanFactory(thresholds={"fake_monitoring_trail": {"max_age_days": 30}})
    assert drilldown.scan_thresholds(scan_id=scan.pk, check_id="fake_monitoring_trail") == {
        "max_age_days": 30
    }
    assert drilldown.scan_thresholds(scan_id=scan.pk, check_id="fake_monitoring_alarm") == {}


# Check-account page.
def test_check_account_findings_failing_first():
    account = AccountFactory()
    finished_scan(
        {
            account: volumes(
                "fake_monitoring_trail", [Status.PASS, Status.NOT_APPLICABLE, Status.UNKNOWN, Status.FAIL]
            )
        }
    )
    findings = drilldown.check_account_findings(check_id="fake_monitoring_trail", account_pk=account.pk)
    assert [f.status for f in findings] == [Status.FAIL, Status.UNKNOWN, Status.PASS, Status.NOT_APPLICABLE]


def test_check_account_findings_by_status():
    account = AccountFactory()
    finished_scan({account: volumes("fake_monitoring_trail", [Status.PASS, Status.FAIL])})
    findings = drilldown.check_account_findings(
        check_id="fake_monitoring_trail", account_pk=account.pk, status=Status.PASS
    )
    assert [f.status for f in findings] == [Status.PASS]


def test_check_account_findings_only_that_account():
    account, other = AccountFactory(), AccountFactory()
    finished_scan(
        {
            account: volumes("fake_monitoring_trail", [Status.FAIL]),
            other: volumes("fake_monitoring_trail", [Status.FAIL]),
        }
    )
    findings = drilldown.check_account_findings(check_id="fake_monitoring_trail", account_pk=account.pk)
    assert {f.account_id for f in findings} == {account.pk}


def test_check_account_counts_per_status():
    account = AccountFactory()
    finished_scan({account: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL, Status.PASS])})
    Finding.objects.filter(status=Status.PASS).update(is_current=False)
    counts = drilldown.check_account_counts(check_id="fake_monitoring_trail", account_pk=account.pk)
    assert counts.failing == 2
    assert counts.passing == 0
    assert counts.total == 2


def test_status_counts_sum_of():
    total = drilldown.StatusCounts.sum_of(
        [drilldown.StatusCounts(failing=1, unknown=2), drilldown.StatusCounts(failing=3, passing=4)]
    )
    assert total == drilldown.StatusCounts(failing=4, passing=4, unknown=2, not_applicable=0)
