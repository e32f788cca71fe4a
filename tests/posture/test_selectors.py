from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from posture.checks.base import Area, Severity, Status
from posture.models import Finding, Scan, ScoreSnapshot
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


def test_score_trend_accounts_filter_counts_only_them(three_accounts):
    _, _, bravo, _ = three_accounts
    (point,) = overview_selectors.score_trend(accounts=[bravo.pk])
    assert point.scores.overall == pytest.approx(100.0)
    assert point.scores.coverage == pytest.approx(100.0)


def test_score_trend_skips_scan_failed_for_filtered_accounts():
    alpha = AccountFactory()
    bravo = AccountFactory()
    now = timezone.now()
    first = finished_scan({alpha: ALL_PASS, bravo: ALL_PASS}, scanned_at=now - dt.timedelta(days=1))
    second = finished_scan({alpha: ALL_PASS, bravo: None}, scanned_at=now)
    assert [p.scan_id for p in overview_selectors.score_trend(accounts=[bravo.pk])] == [first.pk]
    assert [p.scan_id for p in overview_selectors.score_trend()] == [first.pk, second.pk]


def test_score_trend_all_accounts_skips_single_account_scan():
    alpha = AccountFactory()
    bravo = AccountFactory()
    now = timezone.now()
    full = finished_scan({alpha: ALL_PASS, bravo: ALL_PASS}, scanned_at=now - dt.timedelta(days=1))
    single = finished_scan({alpha: SOME_FAIL}, scanned_at=now)
    # As scan_start stores a scan of chosen accounts, and snapshots_write copies it.
    Scan.objects.filter(pk=single.pk).update(all_accounts=False)
    ScoreSnapshot.objects.filter(scan=single).update(all_accounts=False)

    assert [p.scan_id for p in overview_selectors.score_trend()] == [full.pk]
    assert [p.scan_id for p in overview_selectors.score_trend(accounts=[alpha.pk])] == [full.pk, single.pk]
    both = [alpha.pk, bravo.pk]
    assert [p.scan_id for p in overview_selectors.score_trend(accounts=both)] == [full.pk]


def test_score_trend_empty_account_list_is_empty(three_accounts):
    assert overview_selectors.score_trend(accounts=[]) == []


def test_score_trend_environment_filter():
    production = AccountFactory(environment="production")
    staging = AccountFactory(environment="staging")
    finished_scan({production: ALL_PASS, staging: SOME_FAIL})
    accounts = overview_selectors.accounts_in_scope(
        overview_selectors.account_options(), environment="production"
    )
    (point,) = overview_selectors.score_trend(accounts=accounts)
    assert point.scores.overall == pytest.approx(100.0)


def test_score_trend_reads_only_snapshots(three_accounts, django_assert_num_queries):
    with django_assert_num_queries(2) as captured:
        overview_selectors.score_trend()
    for query in captured.captured_queries:
        assert 'FROM "posture_scoresnapshot"' in query["sql"]
        assert "posture_finding" not in query["sql"]
        assert "posture_scan" not in query["sql"].replace("posture_scoresnapshot", "")


def test_score_trend_carries_ruleset_version(three_accounts):
    scan, *_ = three_accounts
    (point,) = overview_selectors.score_trend()
    assert point.ruleset_version == scan.ruleset_version


# Filter by account and environment.
@pytest.fixture
def labelled_accounts():
    """Two production accounts, one staging account and one without a label."""
    first = AccountFactory(name="prod-a", environment="production")
    second = AccountFactory(name="prod-b", environment="production")
    staging = AccountFactory(name="stage", environment="staging")
    AccountFactory(name="unlabelled", environment="")
    return overview_selectors.account_options(), first, second, staging


def test_accounts_in_scope_none_without_filters(labelled_accounts):
    options, *_ = labelled_accounts
    assert overview_selectors.accounts_in_scope(options) is None


def test_accounts_in_scope_by_environment(labelled_accounts):
    options, first, second, _ = labelled_accounts
    assert overview_selectors.accounts_in_scope(options, environment="production") == [first.pk, second.pk]


def test_accounts_in_scope_by_account_id(labelled_accounts):
    options, _, _, staging = labelled_accounts
    assert overview_selectors.accounts_in_scope(options, account_id=staging.account_id) == [staging.pk]


def test_accounts_in_scope_filters_intersect(labelled_accounts):
    options, first, _, staging = labelled_accounts
    both = overview_selectors.accounts_in_scope(
        options, account_id=first.account_id, environment="production"
    )
    assert both == [first.pk]
    assert (
        overview_selectors.accounts_in_scope(options, account_id=staging.account_id, environment="production")
        == []
    )


def test_environments_distinct_sorted_without_blank(labelled_accounts):
    options, *_ = labelled_accounts
    assert overview_selectors.environments(options) == ["production", "staging"]


def test_account_options_sorted_by_name(labelled_accounts):
    options, *_ = labelled_accounts
    assert [option.name for option in options] == ["prod-a", "prod-b", "stage", "unlabelled"]


# Score cards.
def test_score_card_longest_change_prefers_30_days():
    card = overview_selectors.ScoreCard(
        label="Overall", score=80.0, raw_score=80.0, coverage=100.0, weight=None, changes={7: 1.0, 30: -4.0}
    )
    assert card.longest_change == overview_selectors.Change(days=30, points=-4.0)


def test_score_card_longest_change_none_without_history():
    card = overview_selectors.ScoreCard(
        label="Overall", score=80.0, raw_score=80.0, coverage=100.0, weight=None, changes={7: None, 30: None}
    )
    assert card.longest_change is None


@pytest.mark.parametrize(
    ("points", "direction"), [(2.0, "up"), (-2.0, "down"), (0.04, "flat"), (-0.04, "flat"), (None, "none")]
)
def test_change_direction(points, direction):
    assert overview_selectors.Change(days=7, points=points).direction == direction


@pytest.mark.parametrize(
    ("coverage", "incomplete"), [(100.0, False), (95.0, False), (94.9, True), (None, True)]
)
def test_score_card_incomplete_under_95_percent(coverage, incomplete):
    card = overview_selectors.ScoreCard(
        label="Overall", score=80.0, raw_score=80.0, coverage=coverage, weight=None, changes={}
    )
    assert card.incomplete is incomplete


def test_worst_area_card_lowest_score(three_accounts):
    cards = overview_selectors.score_cards(overview_selectors.score_trend())
    worst = overview_selectors.worst_area_card(cards)
    assert worst.area == Area.AUTHENTICATION.value
    assert worst.score == pytest.approx(50.0)


# Changes of the latest scan.
@pytest.fixture
def three_scans():
    """alarm and MFA fail, then both pass, then the alarm fails again."""
    account = AccountFactory(name="ops")
    now = timezone.now()
    first = finished_scan({account: SOME_FAIL}, scanned_at=now - dt.timedelta(days=2))
    second = finished_scan({account: ALL_PASS}, scanned_at=now - dt.timedelta(days=1))
    third = finished_scan({account: [*SOME_FAIL[:2], *ALL_PASS[2:]]}, scanned_at=now)
    return first, second, third


def events_by_key(scan: Scan, **kwargs) -> dict[str, overview_selectors.EventGroup]:
    return {group.key: group for group in overview_selectors.scan_events(scan_id=scan.pk, **kwargs)}


def test_scan_events_new_counts_only_failing(three_scans):
    first, _, _ = three_scans
    groups = events_by_key(first)
    assert groups["new"].count == 2
    assert groups["resolved"].count == 0
    assert groups["reopened"].count == 0


def test_scan_events_new_most_severe_first(three_scans):
    first, _, _ = three_scans
    rows = events_by_key(first)["new"].rows
    assert [row.check_id for row in rows] == ["fake_authentication_mfa", "fake_monitoring_alarm"]
    assert rows[0].check_title == "Title of fake_authentication_mfa"
    assert rows[0].account_name == "ops"


def test_scan_events_resolved(three_scans):
    _, second, _ = three_scans
    groups = events_by_key(second)
    assert groups["resolved"].count == 2
    assert groups["new"].count == 0


def test_scan_events_reopened(three_scans):
    _, _, third = three_scans
    reopened = events_by_key(third)["reopened"]
    assert reopened.count == 1
    assert [row.check_id for row in reopened.rows] == ["fake_monitoring_alarm"]


def test_scan_events_rows_link_to_findings(three_scans):
    _, _, third = three_scans
    (row,) = events_by_key(third)["reopened"].rows
    finding = Finding.objects.get(check_id="fake_monitoring_alarm")
    assert row.finding_pk == finding.pk


def test_scan_events_capped_with_full_count():
    failing = [
        result("fake_access_ports", Status.FAIL, resource_id=f"arn:aws:ec2:us-east-1:1:security-group/sg-{n}")
        for n in range(5)
    ]
    scan = finished_scan({AccountFactory(): failing})
    new = events_by_key(scan, limit=2)["new"]
    assert new.count == 5
    assert len(new.rows) == 2


def test_scan_events_accounts_filter():
    included = AccountFactory(name="included")
    other = AccountFactory(name="other")
    scan = finished_scan({included: SOME_FAIL, other: SOME_FAIL})
    new = events_by_key(scan, accounts=[included.pk])["new"]
    assert new.count == 2
    assert {row.account_name for row in new.rows} == {"included"}


def test_scan_events_one_query(three_scans, django_assert_num_queries):
    first, _, _ = three_scans
    with django_assert_num_queries(1):
        overview_selectors.scan_events(scan_id=first.pk)


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


def test_account_ranking_accounts_filter(three_accounts):
    scan, alpha, bravo, _ = three_accounts
    rows = overview_selectors.account_ranking(scan_id=scan.pk, accounts=[alpha.pk, bravo.pk])
    assert [row["account__name"] for row in rows] == ["alpha", "bravo"]


# Sparklines.
@pytest.fixture
def two_scans_one_new_account():
    """alpha scores 55 then 100; bravo is only in the second scan."""
    alpha = AccountFactory(name="alpha")
    bravo = AccountFactory(name="bravo")
    now = timezone.now()
    finished_scan({alpha: SOME_FAIL}, scanned_at=now - dt.timedelta(days=1))
    finished_scan({alpha: ALL_PASS, bravo: ALL_PASS}, scanned_at=now)
    return alpha, bravo


def test_account_histories_follow_trend(two_scans_one_new_account):
    alpha, _ = two_scans_one_new_account
    histories = overview_selectors.account_histories(
        account_pks=[alpha.pk], trend=overview_selectors.score_trend()
    )
    assert histories[alpha.pk] == pytest.approx([55.0, 100.0])


def test_account_histories_none_where_account_missing(two_scans_one_new_account):
    _, bravo = two_scans_one_new_account
    history = overview_selectors.account_histories(
        account_pks=[bravo.pk], trend=overview_selectors.score_trend()
    )[bravo.pk]
    assert history[0] is None
    assert history[1] == pytest.approx(100.0)


def test_account_histories_latest_scans_only(two_scans_one_new_account):
    alpha, _ = two_scans_one_new_account
    histories = overview_selectors.account_histories(
        account_pks=[alpha.pk], trend=overview_selectors.score_trend(), scans=1
    )
    assert histories[alpha.pk] == pytest.approx([100.0])


def test_account_histories_one_query(two_scans_one_new_account, django_assert_num_queries):
    alpha, bravo = two_scans_one_new_account
    trend = overview_selectors.score_trend()
    with django_assert_num_queries(1):
        overview_selectors.account_histories(account_pks=[alpha.pk, bravo.pk], trend=trend)


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
