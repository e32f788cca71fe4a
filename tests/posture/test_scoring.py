from __future__ import annotations

import pytest

from posture.checks.base import Area, CheckDefinition, EmptyScope, Remediation, Severity, Status
from posture.scoring import ResultRow, area_weights, coverage, mean, overall, tally_account


def definition(check_id: str, area: Area, severity: Severity) -> CheckDefinition:
    return CheckDefinition(
        id=check_id,
        area=area,
        title=check_id,
        severity=severity,
        resource_type="thing",
        decides="",
        rationale="",
        remediation=Remediation(console="", cli=""),
        empty=EmptyScope.REGION,
        func=lambda ctx: None,
    )


DEFINITIONS = {
    "crit": definition("crit", Area.ACCESS, Severity.CRITICAL),
    "high": definition("high", Area.ACCESS, Severity.HIGH),
    "med": definition("med", Area.ACCESS, Severity.MEDIUM),
    "low": definition("low", Area.ACCESS, Severity.LOW),
    "mon": definition("mon", Area.MONITORING, Severity.MEDIUM),
}


def test_failing_check_counts_zero_passing_counts_weight():
    rows = [
        ResultRow("crit", Status.PASS),
        ResultRow("high", Status.FAIL),
        ResultRow("high", Status.PASS),
        ResultRow("med", Status.PASS),
        ResultRow("low", Status.FAIL),
    ]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    # 8 (crit) + 2 (med) pass out of 8 + 4 + 2 + 1.
    assert tally.score == pytest.approx(100 * 10 / 15)


def test_unknown_and_not_applicable_leave_check_out():
    rows = [
        ResultRow("crit", Status.UNKNOWN),
        ResultRow("high", Status.NOT_APPLICABLE),
        ResultRow("med", Status.PASS),
    ]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.denominator == 2
    assert tally.score == 100


def test_unknown_lowers_coverage():
    rows = [ResultRow("med", Status.PASS), ResultRow("med", Status.UNKNOWN)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert coverage(tally.decided, tally.expected) == 50


def test_unknown_beside_fail_still_fails_check():
    rows = [ResultRow("crit", Status.FAIL), ResultRow("crit", Status.UNKNOWN)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.score == 0


def test_only_not_applicable_has_no_score_full_coverage():
    rows = [ResultRow("crit", Status.NOT_APPLICABLE), ResultRow("low", Status.NOT_APPLICABLE)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.score is None
    assert coverage(tally.decided, tally.expected) == 100


def test_excepted_fail_counts_in_headline_not_raw():
    rows = [ResultRow("crit", Status.FAIL, excepted=True), ResultRow("low", Status.PASS)]
    tally = tally_account(rows, DEFINITIONS)[Area.ACCESS]
    assert tally.score == 100
    assert tally.raw_score == pytest.approx(100 / 9)


def test_area_mean_over_accounts_not_resources():
    big = tally_account([ResultRow("med", Status.FAIL)] * 500, DEFINITIONS)[Area.ACCESS]
    small = tally_account([ResultRow("med", Status.PASS)], DEFINITIONS)[Area.ACCESS]
    assert mean([big.score, small.score]) == 50


def test_overall_weights_areas_by_check_weight():
    weights = area_weights(DEFINITIONS)
    assert weights[Area.ACCESS] == 15
    assert weights[Area.MONITORING] == 2
    value = overall({Area.ACCESS: 100.0, Area.MONITORING: 0.0, Area.INACTIVE: None}, weights)
    assert value == pytest.approx(100 * 15 / 17)


def test_overall_without_scores_is_none():
    assert overall({Area.ACCESS: None}, area_weights(DEFINITIONS)) is None


def test_coverage_without_results_is_none():
    assert coverage(0, 0) is None
