from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection

from posture import keyset
from posture.checks.base import Area, Severity, Status
from posture.keyset import Cursor, InvalidCursor, Ordering, SortKey, keyset_page
from posture.models import Finding
from posture.selectors import findings as finding_selectors
from posture.selectors.findings import (
    DEFAULT_SORT,
    EXPORT_FIELDS,
    SORT_CHOICES,
    finding_count,
    finding_export_rows,
    finding_list,
    finding_page,
    matching_check_ids,
)
from tests.factories import AccountFactory, FindingFactory, ScanFactory, UserFactory, install_fake_checks

pytestmark = pytest.mark.django_db

STATUS_RANK = {Status.FAIL: 3, Status.UNKNOWN: 2, Status.PASS: 1, Status.NOT_APPLICABLE: 0}
SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}
# Python sort keys that must give the same order as the database, before the id tiebreaker.
PYTHON_KEYS = {
    "status": lambda f: (STATUS_RANK[f.status], SEVERITY_RANK[f.severity]),
    "severity": lambda f: (SEVERITY_RANK[f.severity], STATUS_RANK[f.status]),
    "account": lambda f: (f.account.name, f.account_id),
    "check": lambda f: (f.check_id,),
    "region": lambda f: (f.region,),
    "resource": lambda f: (f.resource_id,),
    "first_seen": lambda f: (f.first_seen_at,),
    "last_seen": lambda f: (f.last_seen_at,),
}
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


def at(day: int) -> dt.datetime:
    """Noon UTC on day `day` of January 2025."""
    return dt.datetime(2025, 1, day, 12, tzinfo=dt.UTC)


@pytest.fixture
def mixed() -> list[Finding]:
    """Eighteen findings with many ties in every sortable column, created in a shuffled order."""
    accounts = [AccountFactory(name=name) for name in ("beta", "alpha", "gamma")]
    # Two accounts with the same name: the account sort must break the tie by account.
    accounts.append(AccountFactory(name="alpha"))
    statuses = [Status.FAIL, Status.PASS, Status.UNKNOWN, Status.NOT_APPLICABLE]
    severities = [Severity.LOW, Severity.CRITICAL, Severity.MEDIUM, Severity.HIGH]
    checks = ["fake_monitoring_trail", "fake_access_ports", "fake_inactive_keys"]
    regions = ["us-east-1", "eu-west-1", "global"]
    findings = []
    for n in range(18):
        findings.append(
            FindingFactory(
                account=accounts[n % 4],
                status=statuses[(n * 3) % 4],
                severity=severities[n % 4 if n < 9 else (n // 2) % 4],
                check_id=checks[n % 3],
                region=regions[(n // 3) % 3],
                resource_id=f"arn:aws:ec2:us-east-1:111111111111:volume/vol-{(n * 7) % 6:04d}",
                first_seen_at=at(1 + n % 3),
                last_seen_at=at(10 + (n * 5) % 4),
            )
        )
    return findings


def expected_order(findings: list[Finding], sort: str) -> list[int]:
    name = sort.removeprefix("-")
    ordered = sorted(findings, key=lambda f: (*PYTHON_KEYS[name](f), f.pk), reverse=sort.startswith("-"))
    return [f.pk for f in ordered]


def ids(rows) -> list[int]:
    return [row.pk for row in rows]


def walk_forward(sort: str, size: int) -> list[list[int]]:
    findings = finding_list()
    pages = []
    page = finding_page(findings, sort=sort, size=size)
    pages.append(ids(page.rows))
    while page.has_next:
        page = finding_page(findings, sort=sort, size=size, after=page.next_cursor)
        pages.append(ids(page.rows))
    return pages


# Filters.
def test_finding_list_current_only_by_default():
    current = FindingFactory()
    FindingFactory(is_current=False)
    assert list(finding_list()) == [current]


def test_finding_list_include_gone():
    FindingFactory()
    FindingFactory(is_current=False)
    assert finding_list(include_gone=True).count() == 2


@pytest.mark.parametrize(
    ("matching_kwargs", "filter_kwargs"),
    [
        ({"area": Area.ACCESS}, {"area": Area.ACCESS}),
        ({"check_id": "fake_access_ports"}, {"check_id": "fake_access_ports"}),
        ({"severity": Severity.CRITICAL}, {"severity": Severity.CRITICAL}),
        ({"status": Status.PASS}, {"status": Status.PASS}),
        ({"region": "eu-west-1"}, {"region": "eu-west-1"}),
        ({"first_seen_at": at(5)}, {"first_seen_from": dt.date(2025, 1, 4)}),
        ({"first_seen_at": at(1)}, {"first_seen_to": dt.date(2025, 1, 2)}),
        ({"last_seen_at": at(20)}, {"last_seen_from": dt.date(2025, 1, 20)}),
        ({"last_seen_at": at(3)}, {"last_seen_to": dt.date(2025, 1, 3)}),
        ({"resource_id": "arn:aws:s3:::Backup-Logs"}, {"search": "backup-logs"}),
        ({"check_id": "fake_access_ports"}, {"search": "title of FAKE_ACCESS"}),
    ],
)
def test_finding_list_each_filter_alone(matching_kwargs, filter_kwargs):
    defaults = {"first_seen_at": at(3), "last_seen_at": at(10), "region": "us-east-1"}
    matching = FindingFactory(**{**defaults, **matching_kwargs})
    FindingFactory(**defaults)
    assert list(finding_list(**filter_kwargs)) == [matching]


def test_finding_list_filters_account():
    matching = FindingFactory()
    FindingFactory()
    assert list(finding_list(account_pk=matching.account_id)) == [matching]


def test_finding_list_filters_environment():
    matching = FindingFactory(account=AccountFactory(environment="production"))
    FindingFactory(account=AccountFactory(environment="staging"))
    FindingFactory(account=AccountFactory(environment=""))
    assert list(finding_list(environment="production")) == [matching]


def test_finding_list_date_range_includes_both_days():
    first_day = FindingFactory(first_seen_at=dt.datetime(2025, 1, 2, 0, 0, tzinfo=dt.UTC))
    last_day = FindingFactory(first_seen_at=dt.datetime(2025, 1, 3, 23, 59, 59, tzinfo=dt.UTC))
    FindingFactory(first_seen_at=dt.datetime(2025, 1, 1, 23, 59, 59, tzinfo=dt.UTC))
    FindingFactory(first_seen_at=dt.datetime(2025, 1, 4, 0, 0, tzinfo=dt.UTC))
    found = finding_list(first_seen_from=dt.date(2025, 1, 2), first_seen_to=dt.date(2025, 1, 3))
    assert sorted(ids(found)) == sorted([first_day.pk, last_day.pk])


def test_finding_list_combined_filters():
    account = AccountFactory(environment="production")
    matching = FindingFactory(account=account, severity=Severity.CRITICAL, region="eu-west-1")
    FindingFactory(account=account, severity=Severity.LOW, region="eu-west-1")
    FindingFactory(account=account, severity=Severity.CRITICAL, region="us-east-1")
    FindingFactory(severity=Severity.CRITICAL, region="eu-west-1")
    found = finding_list(
        environment="production", severity=Severity.CRITICAL, region="eu-west-1", search="vol-"
    )
    assert list(found) == [matching]


def test_finding_list_search_matches_resource_or_title():
    by_resource = FindingFactory(check_id="fake_monitoring_trail", resource_id="i-mfa-bastion")
    by_title = FindingFactory(check_id="fake_authentication_mfa", resource_id="user/alice")
    FindingFactory(check_id="fake_monitoring_trail", resource_id="user/bob")
    assert sorted(ids(finding_list(search="MFA"))) == sorted([by_resource.pk, by_title.pk])


def test_matching_check_ids_by_title_and_id():
    assert matching_check_ids("Title of fake_inactive") == ["fake_inactive_keys"]
    assert matching_check_ids("ACCESS_PORTS") == ["fake_access_ports"]
    assert matching_check_ids("no such words") == []


def test_finding_list_failing_and_severe_first():
    low_fail = FindingFactory(status=Status.FAIL, severity=Severity.LOW)
    passing = FindingFactory(status=Status.PASS, severity=Severity.CRITICAL)
    critical_fail = FindingFactory(status=Status.FAIL, severity=Severity.CRITICAL)
    assert list(finding_list()) == [critical_fail, low_fail, passing]


# Sorting.
@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_finding_page_sorts_each_column(mixed, sort):
    page = finding_page(finding_list(), sort=sort, size=100)
    assert ids(page.rows) == expected_order(mixed, sort)


def test_default_sort_is_failing_first():
    assert DEFAULT_SORT == "-status"


def test_sort_choices_cover_both_directions():
    assert set(SORT_CHOICES) == {
        f"{prefix}{name}" for name in finding_selectors.FINDING_SORTS for prefix in ("", "-")
    }


# Keyset pagination.
@pytest.fixture(params=["row values", "expanded"])
def comparison(request, monkeypatch):
    """Run a test with row-value comparisons, then with the expanded OR form other databases get."""
    if request.param == "expanded":
        monkeypatch.setattr(keyset, "ROW_VALUE_VENDORS", frozenset())
    return request.param


@pytest.mark.parametrize("sort", SORT_CHOICES)
@pytest.mark.parametrize("size", [1, 4, 5])
def test_keyset_pages_cover_every_row_once(mixed, sort, size, comparison):
    pages = walk_forward(sort, size)
    flat = [pk for page in pages for pk in page]
    assert flat == expected_order(mixed, sort)
    assert all(len(page) == size for page in pages[:-1])


@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_keyset_previous_pages_mirror_next(mixed, sort, comparison):
    findings = finding_list()
    forward = walk_forward(sort, 4)
    page = finding_page(findings, sort=sort, size=4)
    while page.has_next:
        page = finding_page(findings, sort=sort, size=4, after=page.next_cursor)
    backward = [ids(page.rows)]
    while page.has_previous:
        page = finding_page(findings, sort=sort, size=4, before=page.previous_cursor)
        backward.append(ids(page.rows))
    assert backward[::-1] == forward


def test_keyset_page_numbers_follow_links(mixed):
    findings = finding_list()
    first = finding_page(findings, sort="region", size=5)
    second = finding_page(findings, sort="region", size=5, after=first.next_cursor)
    third = finding_page(findings, sort="region", size=5, after=second.next_cursor)
    back = finding_page(findings, sort="region", size=5, before=third.previous_cursor)
    assert [first.number, second.number, third.number, back.number] == [1, 2, 3, 2]


def test_keyset_first_page_has_no_previous(mixed):
    page = finding_page(finding_list(), sort="region", size=5)
    assert not page.has_previous
    assert page.has_next


def test_keyset_last_page_has_no_next(mixed):
    page = finding_page(finding_list(), sort="region", size=100)
    assert not page.has_next


def test_keyset_previous_of_short_start_shows_first_page(mixed):
    """A previous link whose rows were deleted in between still lands on a full first page."""
    findings = finding_list()
    first = finding_page(findings, sort="resource", size=5)
    second = finding_page(findings, sort="resource", size=5, after=first.next_cursor)
    Finding.objects.filter(pk__in=[first.rows[0].pk, first.rows[1].pk]).delete()
    back = finding_page(finding_list(), sort="resource", size=5, before=second.previous_cursor)
    assert back.number == 1
    assert len(back.rows) == 5
    assert not back.has_previous


def test_keyset_row_values_used_on_test_database():
    """The test databases (SQLite, PostgreSQL) take the row-value path unless a test says otherwise."""
    assert connection.vendor in keyset.ROW_VALUE_VENDORS


def test_keyset_rows_added_between_pages_not_repeated(mixed):
    findings = finding_list()
    first = finding_page(findings, sort="-first_seen", size=6)
    # A newer finding sorts before the cursor, so the next page neither repeats nor skips a row.
    FindingFactory(first_seen_at=at(28))
    second = finding_page(finding_list(), sort="-first_seen", size=6, after=first.next_cursor)
    assert ids(second.rows) == expected_order(mixed, "-first_seen")[6:12]


def test_keyset_cursor_from_other_sort_rejected(mixed):
    page = finding_page(finding_list(), sort="region", size=5)
    with pytest.raises(InvalidCursor, match="another sort order"):
        finding_page(finding_list(), sort="-region", size=5, after=page.next_cursor)


@pytest.mark.parametrize(
    ("sort", "token"),
    [
        ("region", "not base64 !"),
        ("region", base64.urlsafe_b64encode(b"not json").decode()),
        ("region", base64.urlsafe_b64encode(b"[1, 2]").decode()),
        ("region", Cursor("region", ("us-east-1",), 2).encode()),  # the id key is missing
        ("region", Cursor("region", (5, 10), 2).encode()),  # a number where the region belongs
        ("region", Cursor("region", ("us-east-1", "10"), 2).encode()),  # a string where the id belongs
        ("region", Cursor("region", ("us-east-1", None), 2).encode()),  # NULL in a key never NULL
        ("region", Cursor("region", ("us-east-1", 10), 0).encode()),  # page 0
        ("first_seen", Cursor("first_seen", ("2025-01-01", 10), 2).encode()),  # no time zone
        ("first_seen", Cursor("first_seen", ("yesterday", 10), 2).encode()),
    ],
)
def test_keyset_damaged_cursor_rejected(sort, token):
    with pytest.raises(InvalidCursor, match="damaged"):
        finding_page(finding_list(), sort=sort, size=5, after=token)


def test_keyset_cursor_is_urlsafe_json():
    token = Cursor("first_seen", (at(3), 7), 4).encode()
    padded = token + "=" * (-len(token) % 4)
    payload = json.loads(base64.urlsafe_b64decode(padded))
    assert payload == {"s": "first_seen", "v": ["2025-01-03T12:00:00+00:00", 7], "p": 4}
    assert "=" not in token


def test_keyset_nullable_key_pages_in_both_directions():
    """NULL sorts above every value: last ascending, first descending, without skips or repeats."""
    scans = [ScanFactory(), ScanFactory()]
    findings = [FindingFactory(last_scan=scans[n % 3] if n % 3 < 2 else None) for n in range(9)]
    queryset = Finding.objects.all()
    key = SortKey("last_scan_id", int, nullable=True)
    for descending in (False, True):
        ordering = Ordering((key, SortKey("id", int)), descending=descending)
        rows, page = [], keyset_page(queryset, ordering=ordering, sort="scan", size=2)
        rows.extend(page.rows)
        while page.has_next:
            page = keyset_page(queryset, ordering=ordering, sort="scan", size=2, after=page.next_cursor)
            rows.extend(page.rows)
        null_last = sorted(findings, key=lambda f: (f.last_scan_id is None, f.last_scan_id or 0, f.pk))
        expected = null_last[::-1] if descending else null_last
        assert ids(rows) == ids(expected), f"descending={descending}"


# Counting.
def test_finding_count_exact_below_cap():
    FindingFactory.create_batch(3)
    assert finding_count(finding_list(), cap=5) == finding_selectors.MatchCount(count=3, more=False)


def test_finding_count_exact_at_cap():
    FindingFactory.create_batch(5)
    assert finding_count(finding_list(), cap=5) == finding_selectors.MatchCount(count=5, more=False)


def test_finding_count_capped_above_cap():
    FindingFactory.create_batch(7)
    assert finding_count(finding_list(), cap=5) == finding_selectors.MatchCount(count=5, more=True)


# Export rows.
@pytest.mark.parametrize("sort", ["-status", "account", "-last_seen"])
def test_finding_export_rows_in_sort_order(mixed, sort):
    rows = list(finding_export_rows(finding_list(), sort=sort))
    assert [row[0] for row in rows] == expected_order(mixed, sort)


def test_finding_export_rows_fields():
    account = AccountFactory(account_id="123456789012", name="prod", environment="production")
    finding = FindingFactory(account=account, first_seen_at=at(2), last_seen_at=at(9), reason="Open to all.")
    (row,) = finding_export_rows(finding_list(), sort=DEFAULT_SORT)
    assert dict(zip(EXPORT_FIELDS, row, strict=True)) == {
        "id": finding.pk,
        "account__account_id": "123456789012",
        "account__name": "prod",
        "account__environment": "production",
        "region": "us-east-1",
        "check_id": "fake_monitoring_trail",
        "area": Area.MONITORING,
        "severity": Severity.HIGH,
        "status": Status.FAIL,
        "triage_state": "open",
        "assignee__username": None,
        "exception_id": None,
        "resource_type": "volume",
        "resource_id": finding.resource_id,
        "reason": "Open to all.",
        "first_seen_at": at(2),
        "last_seen_at": at(9),
    }


def test_finding_export_rows_respects_filters():
    matching = FindingFactory(severity=Severity.CRITICAL)
    FindingFactory(severity=Severity.LOW)
    FindingFactory(severity=Severity.CRITICAL, is_current=False)
    rows = list(finding_export_rows(finding_list(severity=Severity.CRITICAL), sort=DEFAULT_SORT))
    assert [row[0] for row in rows] == [matching.pk]


def test_finding_export_rows_streams_from_iterator():
    FindingFactory.create_batch(3)
    rows = finding_export_rows(finding_list(), sort=DEFAULT_SORT)
    assert not isinstance(rows, list)
    assert next(rows)[0] is not None


# Triage filters.
def test_finding_list_triage_states_any_of():
    open_finding = FindingFactory(triage_state=Finding.TriageState.OPEN)
    progress = FindingFactory(triage_state=Finding.TriageState.IN_PROGRESS)
    FindingFactory(triage_state=Finding.TriageState.RESOLVED)
    found = set(finding_list(triage_states=finding_selectors.ACTIVE_TRIAGE_STATES))
    assert found == {open_finding, progress}


def test_finding_list_assignee():
    analyst = UserFactory(roles=["analyst"])
    assigned = FindingFactory(assignee=analyst)
    FindingFactory()
    assert list(finding_list(assignee_id=analyst.pk)) == [assigned]


def test_finding_list_unassigned():
    unassigned = FindingFactory()
    FindingFactory(assignee=UserFactory(roles=["analyst"]))
    assert list(finding_list(unassigned=True)) == [unassigned]
