from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from posture.checks.base import Area, Severity, Status
from posture.models import Scan
from posture.scoring import area_weights, overall
from posture.selectors import findings as finding_selectors
from posture.selectors import overview as overview_selectors
from posture.selectors import scans as scan_selectors
from tests.factories import (
    AccountFactory,
    AccountScanFactory,
    FindingFactory,
    ScanFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

ALL_PASS = [
    result("fake_monitoring_trail"),
    result("fake_monitoring_alarm"),
    result("fake_authentication_mfa"),
    result("fake_configuration_encryption"),
    result("fake_inactive_keys"),
    result("fake_access_ports"),
]
# Monitoring 100 x 4 / 5 = 80 (the low-weight alarm fails), authentication 0, the rest 100.
SOME_FAIL = [
    result("fake_monitoring_trail"),
    result("fake_monitoring_alarm", Status.FAIL),
    result("fake_authentication_mfa", Status.FAIL),
    result("fake_configuration_encryption"),
    result("fake_inactive_keys"),
    result("fake_access_ports"),
]


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def three_accounts():
    """alpha fails two checks, bravo passes all, charlie's role could not be assumed."""
    alpha = AccountFactory(name="alpha")
    bravo = AccountFactory(name="bravo")
    charlie = AccountFactory(name="charlie")
    scan = finished_scan({alpha: SOME_FAIL, bravo: ALL_PASS, charlie: None})
    return scan, alpha, bravo, charlie


def area_score(point: overview_selectors.TrendPoint, area: Area) -> float | None:
    return point.score_of(area.value)


def test_score_trend_area_mean_over_accounts(three_accounts):
    (point,) = overview_selectors.score_trend()
    assert area_score(point, Area.MONITORING) == pytest.approx(90.0)
    assert area_score(point, Area.AUTHENTICATION) == pytest.approx(50.0)
    assert area_score(point, Area.ACCESS) == pytest.approx(100.0)


def test_score_trend_overall_weights_areas(three_accounts):
    (point,) = overview_selectors.score_trend()
    # Area weights: monitoring 5, authentication 8, configuration 2, inactive 1, access 4.
    expected = (90 * 5 + 50 * 8 + 100 * 2 + 100 * 1 + 100 * 4) / 20
    assert point.scores.overall == pytest.approx(expected)


def test_score_trend_unreachable_account_lowers_coverage(three_accounts):
    (point,) = overview_selectors.score_trend()
    # alpha and bravo decided 6 results each; charlie was expected to give 6 and gave none.
    assert point.scores.coverage == pytest.approx(100 * 12 / 18)
    assert point.coverage_of(Area.MONITORING.value) == pytest.approx(100 * 4 / 6)


def test_score_trend_oldest_first_scored_only():
    account = AccountFactory()
    now = timezone.now()
    old = finished_scan({account: SOME_FAIL}, scanned_at=now - dt.timedelta(days=2))
    new = finished_scan({account: ALL_PASS}, scanned_at=now - dt.timedelta(days=1))
    finished_scan({account: None}, scanned_at=now)
    ScanFactory(state=Scan.State.RUNNING, scanned_at=now)
    assert [p.scan_id for p in overview_selectors.score_trend()] == [old.pk, new.pk]


def test_score_trend_keeps_latest_scans_when_capped():
    account = AccountFactory()
    now = timezone.now()
    scans = [
        finished_scan({account: ALL_PASS}, scanned_at=now - dt.timedelta(days=days)) for days in (3, 2, 1)
    ]
    trend = overview_selectors.score_trend(max_scans=2)
    assert [p.scan_id for p in trend] == [scans[1].pk, scans[2].pk]


def test_score_cards_overall_first_then_areas(three_accounts):
    cards = overview_selectors.score_cards(overview_selectors.score_trend())
    assert [c.label for c in cards] == ["Overall", *[a.label for a in Area]]


def test_score_cards_change_against_older_scan():
    account = AccountFactory()
    now = timezone.now()
    finished_scan({account: SOME_FAIL}, scanned_at=now - dt.timedelta(days=10))
    finished_scan({account: ALL_PASS}, scanned_at=now)
    trend = overview_selectors.score_trend()
    overall_card = overview_selectors.score_cards(trend)[0]
    assert overall_card.changes[7] == pytest.approx(trend[-1].scores.overall - trend[0].scores.overall)
    assert overall_card.changes[30] is None


def test_score_cards_empty_trend():
    assert overview_selectors.score_cards([]) == []


def test_scan_changes_counts_new_failing_and_resolved():
    account = AccountFactory()
    now = timezone.now()
    finished_scan({account: SOME_FAIL}, scanned_at=now - dt.timedelta(days=1))
    second = finished_scan(
        {account: [*ALL_PASS[:2], result("fake_authentication_mfa", Status.FAIL), *ALL_PASS[3:]]},
        scanned_at=now,
    )
    first_changes = overview_selectors.scan_changes(scan_id=overview_selectors.score_trend()[0].scan_id)
    assert first_changes == {"new_failing": 2, "resolved": 0}
    assert overview_selectors.scan_changes(scan_id=second.pk) == {"new_failing": 0, "resolved": 1}


def test_account_ranking_worst_first_unscored_on_top(three_accounts):
    scan, alpha, bravo, charlie = three_accounts
    rows = list(overview_selectors.account_ranking(scan_id=scan.pk))
    assert [row["account__name"] for row in rows] == ["charlie", "alpha", "bravo"]


def test_account_ranking_overall_matches_formula(three_accounts, fake_checks):
    scan, alpha, _, _ = three_accounts
    (row,) = [r for r in overview_selectors.account_ranking(scan_id=scan.pk) if r["account_id"] == alpha.pk]
    area_scores = {
        Area.MONITORING.value: 80.0,
        Area.AUTHENTICATION.value: 0.0,
        Area.CONFIGURATION.value: 100.0,
        Area.INACTIVE.value: 100.0,
        Area.ACCESS.value: 100.0,
    }
    assert row["score"] == pytest.approx(overall(area_scores, area_weights(fake_checks)))
    assert row["score"] == pytest.approx(55.0)


def test_account_ranking_area_scores_and_coverage(three_accounts):
    scan, alpha, _, charlie = three_accounts
    rows = {
        row.name: row
        for row in overview_selectors.account_rank_rows(overview_selectors.account_ranking(scan_id=scan.pk))
    }
    monitoring = rows["alpha"].areas[list(Area).index(Area.MONITORING)]
    assert monitoring.score == pytest.approx(80.0)
    assert monitoring.coverage == pytest.approx(100.0)
    assert rows["charlie"].score is None
    assert rows["charlie"].coverage == pytest.approx(0.0)


def test_account_ranking_unknown_left_out_and_lowers_coverage():
    account = AccountFactory()
    results = [result("fake_monitoring_trail", Status.UNKNOWN), *ALL_PASS[1:]]
    scan = finished_scan({account: results})
    (row,) = overview_selectors.account_rank_rows(overview_selectors.account_ranking(scan_id=scan.pk))
    monitoring = row.areas[list(Area).index(Area.MONITORING)]
    assert monitoring.score == pytest.approx(100.0)
    assert monitoring.coverage == pytest.approx(50.0)


def test_scan_notes_distinct_from_scored_scans():
    account = AccountFactory()
    note = "Demo: scan dates are simulated."
    finished_scan({account: ALL_PASS}, note=note, scanned_at=timezone.now() - dt.timedelta(days=1))
    finished_scan({account: ALL_PASS}, note=note)
    ScanFactory(state=Scan.State.RUNNING, note="not finished")
    assert overview_selectors.scan_notes() == [note]


def test_scan_in_progress_finds_running_scan():
    finished_scan({AccountFactory(): ALL_PASS})
    running = ScanFactory(state=Scan.State.RUNNING)
    assert overview_selectors.scan_in_progress() == running


def test_finding_list_current_only_by_default():
    current = FindingFactory()
    FindingFactory(is_current=False)
    assert list(finding_selectors.finding_list()) == [current]


def test_finding_list_include_gone():
    FindingFactory()
    FindingFactory(is_current=False)
    assert finding_selectors.finding_list(include_gone=True).count() == 2


@pytest.mark.parametrize(
    ("field", "value", "filter_kwargs"),
    [
        ("area", Area.ACCESS, {"area": Area.ACCESS}),
        ("check_id", "fake_access_ports", {"check_id": "fake_access_ports"}),
        ("severity", Severity.CRITICAL, {"severity": Severity.CRITICAL}),
        ("status", Status.PASS, {"status": Status.PASS}),
    ],
)
def test_finding_list_filters(field, value, filter_kwargs):
    matching = FindingFactory(**{field: value})
    FindingFactory()
    assert list(finding_selectors.finding_list(**filter_kwargs)) == [matching]


def test_finding_list_filters_account():
    matching = FindingFactory()
    FindingFactory()
    assert list(finding_selectors.finding_list(account_pk=matching.account_id)) == [matching]


def test_finding_list_failing_and_severe_first():
    low_fail = FindingFactory(status=Status.FAIL, severity=Severity.LOW)
    passing = FindingFactory(status=Status.PASS, severity=Severity.CRITICAL)
    critical_fail = FindingFactory(status=Status.FAIL, severity=Severity.CRITICAL)
    assert list(finding_selectors.finding_list()) == [critical_fail, low_fail, passing]


def test_scan_list_counts_accounts_by_state():
    scan = ScanFactory(state=Scan.State.RUNNING)
    AccountScanFactory(scan=scan, state=Scan.State.COMPLETED)
    AccountScanFactory(scan=scan, state=Scan.State.FAILED)
    AccountScanFactory(scan=scan, state=Scan.State.RUNNING)
    row = scan_selectors.scan_list().get(pk=scan.pk)
    assert row.account_count == 3
    assert row.accounts_done == 2
    assert row.accounts_failed == 1
