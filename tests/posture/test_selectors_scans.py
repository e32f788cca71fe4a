"""Reads of the scan pages: the accounts a scan may start for, and a scan's UNKNOWN results."""

from __future__ import annotations

import pytest

from posture.checks.base import Result, Status
from posture.models import AccountScan
from posture.selectors import scans as scan_selectors
from tests.factories import AccountFactory, finished_scan, install_fake_checks, result

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


def unknown(
    check_id: str,
    resource_id: str,
    *,
    region: str = "us-east-1",
    code: str | None = "AccessDenied",
    reason: str = "Access Denied",
) -> Result:
    evidence = {"error": {"operation": "s3:GetBucketPolicy", "code": code, "message": reason}} if code else {}
    return Result(
        check_id=check_id,
        region=region,
        resource_id=resource_id,
        resource_type="bucket",
        status=Status.UNKNOWN,
        reason=reason,
        evidence=evidence,
    )


def test_start_accounts_leave_out_disabled():
    enabled = AccountFactory(name="b-enabled")
    AccountFactory(enabled=False)
    first = AccountFactory(name="a-enabled")
    assert list(scan_selectors.scan_start_accounts()) == [first, enabled]


def test_unknowns_group_resources_with_same_error():
    account = AccountFactory()
    scan = finished_scan(
        {account: [unknown("fake_access_ports", "arn:b"), unknown("fake_access_ports", "arn:a")]}
    )
    (group,) = scan_selectors.scan_unknown_results(scan=scan, per_account=10)[account.pk].groups
    assert group.resources == 2
    assert group.resource_id == "arn:a"
    assert group.error_code == "AccessDenied"
    assert group.check_title == "Title of fake_access_ports"


def test_unknowns_split_by_region_and_code():
    account = AccountFactory()
    scan = finished_scan(
        {
            account: [
                unknown("fake_access_ports", "arn:a"),
                unknown("fake_access_ports", "arn:b", region="eu-west-1"),
                unknown("fake_access_ports", "arn:c", code="Throttling"),
            ]
        }
    )
    groups = scan_selectors.scan_unknown_results(scan=scan, per_account=10)[account.pk].groups
    assert [(g.region, g.error_code) for g in groups] == [
        ("eu-west-1", "AccessDenied"),
        ("us-east-1", "AccessDenied"),
        ("us-east-1", "Throttling"),
    ]


def test_unknowns_without_aws_error_have_empty_code():
    account = AccountFactory()
    scan = finished_scan(
        {account: [unknown("fake_access_ports", "arn:a", code=None, reason="The check raised")]}
    )
    (group,) = scan_selectors.scan_unknown_results(scan=scan, per_account=10)[account.pk].groups
    assert group.error_code == ""
    assert group.reason == "The check raised"


def test_unknowns_capped_per_account():
    crowded = AccountFactory()
    quiet = AccountFactory()
    scan = finished_scan(
        {
            crowded: [unknown(check_id, "arn:a") for check_id in ("fake_access_ports", "fake_inactive_keys")],
            quiet: [unknown("fake_access_ports", "arn:q")],
        }
    )
    unknowns = scan_selectors.scan_unknown_results(scan=scan, per_account=1)
    assert [g.check_id for g in unknowns[crowded.pk].groups] == ["fake_access_ports"]
    assert unknowns[crowded.pk].total_groups == 2
    assert unknowns[crowded.pk].capped
    assert not unknowns[quiet.pk].capped


def test_unknowns_leave_out_other_statuses_and_scans():
    account = AccountFactory()
    finished_scan({account: [unknown("fake_inactive_keys", "arn:old")]})
    scan = finished_scan(
        {account: [result("fake_monitoring_trail", Status.FAIL), unknown("fake_access_ports", "arn:a")]}
    )
    groups = scan_selectors.scan_unknown_results(scan=scan, per_account=10)[account.pk].groups
    assert [g.check_id for g in groups] == ["fake_access_ports"]


def test_unknowns_empty_for_clean_scan():
    account = AccountFactory()
    scan = finished_scan({account: [result("fake_monitoring_trail")]})
    assert scan_selectors.scan_unknown_results(scan=scan, per_account=10) == {}


def test_progress_counts_account_error_once():
    scan = finished_scan({AccountFactory(): None})
    (row,) = scan_selectors.scan_progress(scan=scan, unknowns_per_account=10)
    assert row.error_count == 1
    assert row.has_errors


def test_progress_counts_failed_reads():
    account = AccountFactory()
    scan = finished_scan({account: [result("fake_monitoring_trail")]})
    AccountScan.objects.filter(scan=scan).update(errors=[{"region": "us-east-1"}, {"region": "eu-west-1"}])
    (row,) = scan_selectors.scan_progress(scan=scan, unknowns_per_account=10)
    assert row.error_count == 2


def test_progress_clean_account_has_no_errors():
    scan = finished_scan({AccountFactory(): [result("fake_monitoring_trail")]})
    (row,) = scan_selectors.scan_progress(scan=scan, unknowns_per_account=10)
    assert not row.has_errors
    assert not row.in_progress


def test_progress_counts_unknowns_judged_later():
    account = AccountFactory()
    older = finished_scan(
        {account: [unknown("fake_access_ports", "arn:a"), unknown("fake_access_ports", "arn:b")]}
    )
    finished_scan(
        {account: [unknown("fake_access_ports", "arn:a"), result("fake_access_ports", resource_id="arn:b")]}
    )
    (row,) = scan_selectors.scan_progress(scan=older, unknowns_per_account=10)
    assert row.unknowns is None
    assert row.unknowns_judged_later == 2
    assert row.has_errors


def test_progress_no_unknowns_judged_later_when_kept():
    account = AccountFactory()
    scan = finished_scan(
        {account: [unknown("fake_access_ports", "arn:a"), unknown("fake_access_ports", "arn:b")]}
    )
    (row,) = scan_selectors.scan_progress(scan=scan, unknowns_per_account=10)
    assert row.unknowns_judged_later == 0
