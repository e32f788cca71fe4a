"""Scores under exceptions: headline against raw, false positives, and expiry between scans."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from posture import scores
from posture.checks.base import Area, Severity, Status
from posture.models import FindingEvent, ScoreSnapshot
from posture.scoring import ResultRow, exception_lapses, lapse_delta, tally_account
from posture.selectors.overview import account_histories, account_ranking, score_trend
from tests.factories import AccountFactory, check_definition, finished_scan, result
from tests.triage.conftest import CHECK, arn
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

RISK = FindingException.Kind.RISK_ACCEPTED
FALSE_POSITIVE = FindingException.Kind.FALSE_POSITIVE
T0 = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
DEFINITIONS = {
    "high": check_definition("high", Area.ACCESS, Severity.HIGH),
    "low": check_definition("low", Area.ACCESS, Severity.LOW),
}


# The formula.
def test_false_positive_is_not_applicable_in_both():
    rows = [ResultRow("high", Status.FAIL, false_positive=True), ResultRow("low", Status.PASS)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.score == 100
    assert tally.raw_score == 100
    assert tally.denominator == 1
    assert (tally.failed, tally.not_applicable) == (0, 1)


def test_accepted_risk_passes_headline_only():
    rows = [ResultRow("high", Status.FAIL, excepted=True), ResultRow("low", Status.PASS)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.score == 100
    assert tally.raw_score == pytest.approx(20)


def test_lapses_list_each_expiry_cumulatively():
    first, second = T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2)
    rows = [
        ResultRow("high", Status.FAIL, excepted=True, exception_expires_at=first),
        ResultRow("high", Status.FAIL, excepted=True, exception_expires_at=second),
    ]
    lapses = exception_lapses(rows, DEFINITIONS)[Area.ACCESS]
    assert [entry["expires_at"] for entry in lapses] == [first.isoformat(), second.isoformat()]
    assert [entry["numerator"] for entry in lapses] == [-4.0, -4.0]
    assert [entry["raw_numerator"] for entry in lapses] == [0.0, 0.0]


def test_lapse_of_false_positive_adds_denominator():
    rows = [ResultRow("high", Status.FAIL, false_positive=True, exception_expires_at=T0)]
    (entry,) = exception_lapses(rows, DEFINITIONS)[Area.ACCESS]
    assert (entry["numerator"], entry["raw_numerator"], entry["denominator"]) == (0.0, 0.0, 4.0)


def test_exception_without_expiry_never_lapses():
    rows = [ResultRow("high", Status.FAIL, excepted=True)]
    assert exception_lapses(rows, DEFINITIONS) == {}


def test_lapse_delta_takes_latest_due_entry_per_check():
    rows = [
        ResultRow("high", Status.FAIL, false_positive=True, exception_expires_at=T0),
        ResultRow("high", Status.FAIL, excepted=True, exception_expires_at=T0 + dt.timedelta(days=2)),
        ResultRow("low", Status.FAIL, excepted=True, exception_expires_at=T0 + dt.timedelta(days=1)),
    ]
    lapses = exception_lapses(rows, DEFINITIONS)[Area.ACCESS]
    assert lapse_delta(lapses, T0 - dt.timedelta(hours=1)) == (0, 0, 0)
    assert lapse_delta(lapses, T0) == (-4.0, 0.0, 0.0)
    assert lapse_delta(lapses, T0 + dt.timedelta(days=3)) == (-5.0, 0.0, 0.0)


# Snapshots and the read path.
@pytest.fixture
def clock(monkeypatch):
    """A settable timezone.now(), starting at T0."""
    current = {"now": T0}
    monkeypatch.setattr(timezone, "now", lambda: current["now"])

    def set_to(when: dt.datetime) -> None:
        current["now"] = when

    return set_to


def results() -> list:
    """A failing high check in monitoring; every other fake check passes."""
    return [
        result(CHECK, Status.FAIL, resource_id=arn("vol-1")),
        result("fake_monitoring_alarm", Status.PASS),
        result("fake_authentication_mfa", Status.PASS),
        result("fake_configuration_encryption", Status.PASS),
        result("fake_inactive_keys", Status.PASS),
        result("fake_access_ports", Status.PASS),
    ]


def monitoring(point_scores) -> tuple[float | None, float | None]:
    area = next(a for a in point_scores.areas if a.area == Area.MONITORING)
    return area.score, area.raw_score


def accept(analyst, admin, *, kind=RISK, expires_at=None, **scope) -> FindingException:
    proposed = services.exception_propose(
        user=analyst, kind=kind, reason="Lab account", expires_at=expires_at, **scope
    )
    return services.exception_approve(user=admin, exception_id=proposed.pk)


def test_snapshot_stores_headline_and_raw(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=10), check_id=CHECK)
    scan = finished_scan({account: results()}, scanned_at=T0)
    snapshot = ScoreSnapshot.objects.get(scan=scan, area=Area.MONITORING)
    assert (snapshot.numerator, snapshot.raw_numerator, snapshot.denominator) == (5.0, 1.0, 5.0)
    assert snapshot.exceptions_expire_at == T0 + dt.timedelta(days=10)
    assert snapshot.exception_lapses == [
        {
            "check_id": CHECK,
            "expires_at": (T0 + dt.timedelta(days=10)).isoformat(),
            "numerator": -4.0,
            "raw_numerator": 0.0,
            "denominator": 0.0,
        }
    ]


def test_snapshot_counts_false_positive_not_applicable(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, kind=FALSE_POSITIVE, check_id=CHECK)
    scan = finished_scan({account: results()}, scanned_at=T0)
    snapshot = ScoreSnapshot.objects.get(scan=scan, area=Area.MONITORING)
    assert (snapshot.numerator, snapshot.raw_numerator, snapshot.denominator) == (1.0, 1.0, 1.0)
    assert (snapshot.failed, snapshot.not_applicable) == (0, 1)


def test_snapshot_ignores_exception_disabled_after_sync(fake_checks, account, analyst, admin_user, clock):
    """Coverage stored on the finding is not trusted: the exception is read again at the end."""
    exception = accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=10), check_id=CHECK)
    FindingException.objects.filter(pk=exception.pk).update(enabled=False)  # bypassing the services
    scan = finished_scan({account: results()}, scanned_at=T0)
    snapshot = ScoreSnapshot.objects.get(scan=scan, area=Area.MONITORING)
    assert snapshot.numerator == snapshot.raw_numerator


def test_expiry_between_scans_drops_score(fake_checks, account, analyst, admin_user, clock):
    expires_at = T0 + dt.timedelta(days=1)
    exception = accept(analyst, admin_user, expires_at=expires_at, check_id=CHECK)
    first = finished_scan({account: results()}, scanned_at=T0)

    clock(T0 + dt.timedelta(hours=12))
    before = score_trend()[-1].scores
    assert monitoring(before) == (pytest.approx(100), pytest.approx(20))
    assert before.overall > before.raw_overall

    clock(T0 + dt.timedelta(days=2))  # expired, and no scan since
    after = score_trend()[-1].scores
    assert after.scan_id == first.pk
    assert monitoring(after) == (pytest.approx(20), pytest.approx(20))
    assert after.overall == pytest.approx(after.raw_overall)
    assert scores.scan_scores(first).overall == pytest.approx(after.overall)

    services.exceptions_expire()
    expired = FindingEvent.objects.get(kind=FindingEvent.Kind.EXCEPTION_EXPIRED)
    assert expired.finding.resource_id == arn("vol-1")
    assert expired.comment == f"Exception {exception.pk} expired at {expires_at:%Y-%m-%d %H:%M} UTC."


def test_next_scan_keeps_history_of_expired(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=1), check_id=CHECK)
    first = finished_scan({account: results()}, scanned_at=T0)
    clock(T0 + dt.timedelta(days=3))
    second = finished_scan({account: results()}, scanned_at=T0 + dt.timedelta(days=3))
    by_scan = scores.scores_by_scan([first.pk, second.pk])
    assert monitoring(by_scan[first.pk]) == (pytest.approx(100), pytest.approx(20))
    assert monitoring(by_scan[second.pk]) == (pytest.approx(20), pytest.approx(20))


def test_expired_false_positive_counts_failing_again(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, kind=FALSE_POSITIVE, expires_at=T0 + dt.timedelta(days=1), check_id=CHECK)
    finished_scan({account: results()}, scanned_at=T0)
    assert monitoring(score_trend()[-1].scores) == (pytest.approx(100), pytest.approx(100))
    clock(T0 + dt.timedelta(days=2))
    assert monitoring(score_trend()[-1].scores) == (pytest.approx(20), pytest.approx(20))


def test_expiry_lowers_mean_over_accounts(fake_checks, account, analyst, admin_user, clock):
    other = AccountFactory(account_id="222222222222")
    accept(
        analyst,
        admin_user,
        expires_at=T0 + dt.timedelta(days=1),
        check_id=CHECK,
        account_id=account.account_id,
    )
    finished_scan({account: results(), other: results()}, scanned_at=T0)
    clock(T0 + dt.timedelta(hours=12))
    assert monitoring(score_trend()[-1].scores) == (pytest.approx(60), pytest.approx(20))
    clock(T0 + dt.timedelta(days=2))
    point = score_trend()[-1].scores
    # The other account never had the exception: both accounts score 20 in monitoring now.
    assert monitoring(point) == (pytest.approx(20), pytest.approx(20))
    assert monitoring(score_trend(accounts=[other.pk])[-1].scores) == (pytest.approx(20), pytest.approx(20))


# The overview's account ranking and sparklines.
def ranking_scores(scan) -> dict[str, float | None]:
    return {row["account__name"]: row["score"] for row in account_ranking(scan_id=scan.pk)}


def test_ranking_drops_at_expiry(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=1), check_id=CHECK)
    scan = finished_scan({account: results()}, scanned_at=T0)
    clock(T0 + dt.timedelta(hours=12))
    assert ranking_scores(scan) == {"production": pytest.approx(100)}
    clock(T0 + dt.timedelta(days=2))  # expired, and no scan since
    # Monitoring drops to 20 (weight 5 of 20), the other areas stay at 100: 100 x (1 + 15) / 20.
    assert ranking_scores(scan) == {"production": pytest.approx(80)}


def test_ranking_area_score_drops_at_expiry(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=1), check_id=CHECK)
    scan = finished_scan({account: results()}, scanned_at=T0)
    clock(T0 + dt.timedelta(days=2))
    (row,) = account_ranking(scan_id=scan.pk)
    assert row[f"score_{Area.MONITORING}"] == pytest.approx(20)
    assert row[f"score_{Area.ACCESS}"] == pytest.approx(100)


def test_ranking_reorders_at_expiry(fake_checks, account, analyst, admin_user, clock):
    other = AccountFactory(account_id="222222222222", name="development")
    accept(
        analyst,
        admin_user,
        expires_at=T0 + dt.timedelta(days=1),
        check_id=CHECK,
        account_id=account.account_id,
    )
    # The other account fails only the low check: monitoring 80, overall 95.
    other_results = [result(CHECK, Status.PASS, resource_id=arn("vol-1", "222222222222")), *results()[1:]]
    other_results[1] = result("fake_monitoring_alarm", Status.FAIL)
    scan = finished_scan({account: results(), other: other_results}, scanned_at=T0)
    clock(T0 + dt.timedelta(hours=12))
    assert list(ranking_scores(scan)) == ["development", "production"]
    clock(T0 + dt.timedelta(days=2))
    assert list(ranking_scores(scan)) == ["production", "development"]


def test_ranking_without_lapse_keeps_queries(fake_checks, account, django_assert_num_queries, clock):
    scan = finished_scan({account: results()}, scanned_at=T0)
    with django_assert_num_queries(1):
        account_ranking(scan_id=scan.pk)


def test_sparkline_latest_point_drops_at_expiry(fake_checks, account, analyst, admin_user, clock):
    accept(analyst, admin_user, expires_at=T0 + dt.timedelta(days=1), check_id=CHECK)
    finished_scan({account: results()}, scanned_at=T0)
    finished_scan({account: results()}, scanned_at=T0 + dt.timedelta(hours=1))
    clock(T0 + dt.timedelta(days=2))
    history = account_histories(account_pks=[account.pk], trend=score_trend())[account.pk]
    # The older scan shows its score as it was; the account's latest scan lost the exception.
    assert history == [pytest.approx(100), pytest.approx(80)]
