"""Net changes of findings between two scans, and the finished scans the changes page offers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from posture.checks.base import Status
from posture.models import Scan
from posture.selectors import changes as change_selectors
from posture.selectors.changes import ChangeKind
from tests.factories import AccountFactory, ScanFactory, finished_scan, install_fake_checks, result

pytestmark = pytest.mark.django_db

TRAIL = "fake_monitoring_trail"  # monitoring, high
MFA = "fake_authentication_mfa"  # authentication, critical


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


def volume(name: str) -> str:
    return f"arn:aws:ec2:us-east-1:111111111111:volume/{name}"


def alpha_results(statuses: dict[str, Status], *, check_of: dict[str, str] | None = None) -> list:
    check_of = check_of or {}
    return [
        result(check_of.get(name, TRAIL), status, resource_id=volume(name))
        for name, status in statuses.items()
    ]


@dataclass
class History:
    """Four scans: all accounts, all accounts, alpha only, all accounts."""

    alpha: object
    bravo: object
    scans: list[Scan]


@pytest.fixture
def history() -> History:
    alpha = AccountFactory(name="alpha", environment="production")
    bravo = AccountFactory(name="bravo", environment="staging")
    start = timezone.now() - dt.timedelta(days=10)
    fail, ok, unknown = Status.FAIL, Status.PASS, Status.UNKNOWN
    mfa = {"new": MFA}

    first = finished_scan(
        {
            alpha: alpha_results(
                {"fixed-broken": fail, "resolved": fail, "steady": fail, "passing": ok, "flapping": fail}
            ),
            bravo: [result(TRAIL, fail, resource_id=volume("bravo-1"))],
        },
        scanned_at=start,
    )

    second = finished_scan(
        {
            alpha: alpha_results(
                {
                    "fixed-broken": ok,
                    "resolved": ok,
                    "steady": fail,
                    "passing": ok,
                    "flapping": unknown,
                    "new-fixed": fail,
                }
            ),
            bravo: [result(TRAIL, fail, resource_id=volume("bravo-1"))],
        },
        scanned_at=start + dt.timedelta(days=1),
    )

    # A scan of alpha only, between scans of all accounts.
    alpha_third = {
        "fixed-broken": fail,
        "resolved": ok,
        "steady": fail,
        "passing": fail,
        "flapping": fail,
        "new-fixed": ok,
        "new": fail,
    }
    third = finished_scan(
        {alpha: alpha_results(alpha_third, check_of=mfa)}, scanned_at=start + dt.timedelta(days=2)
    )
    Scan.objects.filter(pk=third.pk).update(all_accounts=False)
    third.refresh_from_db()

    fourth = finished_scan(
        {
            alpha: alpha_results({**alpha_third, "new-passing": ok}, check_of=mfa),
            bravo: [result(TRAIL, ok, resource_id=volume("bravo-1"))],
        },
        scanned_at=start + dt.timedelta(days=3),
    )
    return History(alpha=alpha, bravo=bravo, scans=[first, second, third, fourth])


def resources(changes, kind: ChangeKind) -> set[str]:
    group = next(group for group in changes.groups if group.kind == kind)
    return {row.resource_id.rsplit("/", 1)[1] for row in group.rows}


def group_of(changes, kind: ChangeKind):
    return next(group for group in changes.groups if group.kind == kind)


# Net classification.
def test_changes_new_is_first_seen_and_failing(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert resources(changes, ChangeKind.NEW) == {"new"}


def test_changes_reopened_after_fix_or_from_pass(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert resources(changes, ChangeKind.REOPENED) == {"fixed-broken", "passing"}


def test_changes_resolved_across_accounts(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert resources(changes, ChangeKind.RESOLVED) == {"resolved", "bravo-1"}


def test_changes_new_then_fixed_counted_apart(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert resources(changes, ChangeKind.FIXED_WITHIN) == {"new-fixed"}


def test_changes_leave_out_net_unchanged(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    listed = set().union(*(resources(changes, kind) for kind in ChangeKind))
    # "flapping" failed at both ends and was only UNKNOWN between. "new-passing" never failed.
    assert listed.isdisjoint({"steady", "flapping", "new-passing"})


def test_changes_total_counts_each_finding_once(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert changes.total == 6


def test_changes_consecutive_scans(history):
    _, second, third, _ = history.scans
    changes = change_selectors.scan_changes(from_scan=second, to_scan=third)
    assert resources(changes, ChangeKind.REOPENED) == {"fixed-broken", "passing", "flapping"}
    assert resources(changes, ChangeKind.RESOLVED) == {"new-fixed"}
    assert resources(changes, ChangeKind.NEW) == {"new"}
    assert resources(changes, ChangeKind.FIXED_WITHIN) == set()


def test_changes_one_account_scan_as_end(history):
    first, _, third, _ = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=third)
    # The alpha-only scan did not scan bravo, whose finding still fails as it did.
    assert "bravo-1" not in resources(changes, ChangeKind.RESOLVED)
    assert resources(changes, ChangeKind.RESOLVED) == {"resolved"}


def test_changes_one_account_scan_as_start(history):
    _, _, third, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=third, to_scan=fourth)
    assert changes.total == 1
    assert resources(changes, ChangeKind.RESOLVED) == {"bravo-1"}


def test_changes_failed_then_fixed_in_range(history):
    _, second, _, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=second, to_scan=fourth)
    # "new-fixed" failed at the start of this range, so it is resolved, not fixed within.
    assert resources(changes, ChangeKind.RESOLVED) == {"new-fixed", "bravo-1"}
    assert resources(changes, ChangeKind.FIXED_WITHIN) == set()


def test_changes_rows_carry_details(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    row = group_of(changes, ChangeKind.NEW).rows[0]
    assert row.check_title == f"Title of {MFA}"
    assert row.account_name == "alpha"
    assert row.severity == "critical"
    assert row.region == "us-east-1"
    assert row.changed_at == history.scans[2].scanned_at


def test_changes_changed_at_is_last_change_in_range(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    rows = {row.resource_id.rsplit("/", 1)[1]: row for row in group_of(changes, ChangeKind.RESOLVED).rows}
    assert rows["resolved"].changed_at == history.scans[1].scanned_at
    assert rows["bravo-1"].changed_at == fourth.scanned_at


def test_changes_counts_by_severity(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth)
    assert group_of(changes, ChangeKind.RESOLVED).by_severity == {"high": 2}
    assert group_of(changes, ChangeKind.NEW).severity_counts() == [1, 0, 0, 0]


# Filters.
def test_changes_filter_account(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth, account_pk=history.bravo.pk)
    assert changes.total == 1
    assert resources(changes, ChangeKind.RESOLVED) == {"bravo-1"}


def test_changes_filter_environment(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth, environment="production")
    assert changes.total == 5
    assert "bravo-1" not in resources(changes, ChangeKind.RESOLVED)


def test_changes_filter_area(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth, area="authentication")
    assert changes.total == 1
    assert resources(changes, ChangeKind.NEW) == {"new"}


def test_changes_filter_severity(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth, severity="high")
    assert changes.total == 5
    assert resources(changes, ChangeKind.NEW) == set()


# Caps and cost.
def test_changes_rows_capped_most_severe_first(history):
    first, *_, fourth = history.scans
    changes = change_selectors.scan_changes(from_scan=first, to_scan=fourth, limit=1)
    resolved = group_of(changes, ChangeKind.RESOLVED)
    assert resolved.count == 2
    assert len(resolved.rows) == 1
    assert resolved.capped
    # Both are high, so the latest change comes first.
    assert resolved.rows[0].resource_id == volume("bravo-1")


def test_changes_two_queries(history, django_assert_num_queries):
    first, *_, fourth = history.scans
    with django_assert_num_queries(2):
        change_selectors.scan_changes(from_scan=first, to_scan=fourth)


def test_changes_none_between_equal_results(history):
    account = AccountFactory()
    start = timezone.now() + dt.timedelta(days=1)
    before = finished_scan({account: [result(TRAIL, Status.FAIL)]}, scanned_at=start)
    after = finished_scan({account: [result(TRAIL, Status.FAIL)]}, scanned_at=start + dt.timedelta(hours=1))
    changes = change_selectors.scan_changes(from_scan=before, to_scan=after)
    assert changes.total == 0


# Finished scans.
def test_previous_finished_skips_running(history):
    _, _, third, fourth = history.scans
    ScanFactory(state=Scan.State.RUNNING, scanned_at=fourth.scanned_at - dt.timedelta(hours=1))
    assert change_selectors.scan_previous_finished(scan=fourth) == third


def test_previous_finished_of_first_is_none(history):
    assert change_selectors.scan_previous_finished(scan=history.scans[0]) is None


def test_latest_finished_skips_queued(history):
    ScanFactory(state=Scan.State.QUEUED, scanned_at=timezone.now() + dt.timedelta(days=1))
    assert change_selectors.scan_latest_finished() == history.scans[3]


def test_scan_is_after_breaks_ties_by_id():
    when = timezone.now()
    older, newer = ScanFactory(scanned_at=when), ScanFactory(scanned_at=when)
    assert change_selectors.scan_is_after(newer, older)
    assert not change_selectors.scan_is_after(older, newer)


def test_scan_options_newest_first(history):
    options = change_selectors.scan_options()
    assert [option.pk for option in options] == [scan.pk for scan in reversed(history.scans)]


def test_scan_options_label_names_accounts(history):
    options = {option.pk: option for option in change_selectors.scan_options()}
    assert "all accounts" in options[history.scans[0].pk].label
    assert "account alpha" in options[history.scans[2].pk].label


def test_scan_options_include_older_scan(history):
    first = history.scans[0]
    options = change_selectors.scan_options(include=(first,), limit=1)
    assert [option.pk for option in options] == [history.scans[3].pk, first.pk]


def test_scan_options_two_queries(history, django_assert_num_queries):
    with django_assert_num_queries(2):
        change_selectors.scan_options()
