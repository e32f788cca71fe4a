"""The score formula.

- Weights by severity: critical 8, high 4, medium 2, low 1.
- Per account and check: 1 when no resource FAILs, 0 when any does; the check is left out when every
  result is NOT_APPLICABLE or UNKNOWN.
- Area score of an account: 100 x sum(weight x value) / sum(weight), over the checks not left out.
- Area score across accounts: the mean over accounts that have a score in the area.
- Overall: the mean of the area scores, each weighted by the total weight of the area's checks.
- Coverage: results decided (PASS, FAIL, NOT_APPLICABLE) / results expected (all results, so an
  UNKNOWN or an account whose role could not be assumed lowers it and never raises the score).
- Headline vs raw: the headline counts a FAIL under a valid exception as passed; the raw score does
  not. Until exceptions exist, both are equal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from posture.checks.base import SEVERITY_WEIGHTS, Area, CheckDefinition, Status


@dataclass(frozen=True)
class ResultRow:
    """The minimum a score needs of one result."""

    check_id: str
    status: str
    excepted: bool = False  # a FAIL covered by a valid exception


@dataclass
class AreaTally:
    numerator: float = 0.0
    raw_numerator: float = 0.0
    denominator: float = 0.0
    expected: int = 0
    decided: int = 0
    passed: int = 0
    failed: int = 0
    unknown: int = 0
    not_applicable: int = 0

    @property
    def score(self) -> float | None:
        return None if not self.denominator else 100.0 * self.numerator / self.denominator

    @property
    def raw_score(self) -> float | None:
        return None if not self.denominator else 100.0 * self.raw_numerator / self.denominator


def tally_account(
    results: Iterable[ResultRow], definitions: dict[str, CheckDefinition]
) -> dict[str, AreaTally]:
    """Tally one account's results into one AreaTally per area (every area present)."""
    by_check: dict[str, list[ResultRow]] = defaultdict(list)
    for row in results:
        by_check[row.check_id].append(row)

    tallies = {area.value: AreaTally() for area in Area}
    for check_id, rows in by_check.items():
        definition = definitions.get(check_id)
        if definition is None:  # a result of a check that no longer exists
            continue
        tally = tallies[definition.area]
        for row in rows:
            tally.expected += 1
            if row.status == Status.PASS:
                tally.passed += 1
            elif row.status == Status.FAIL:
                tally.failed += 1
            elif row.status == Status.UNKNOWN:
                tally.unknown += 1
            else:
                tally.not_applicable += 1
        tally.decided = tally.passed + tally.failed + tally.not_applicable

        judged = [r for r in rows if r.status in (Status.PASS, Status.FAIL)]
        if not judged:
            continue
        weight = SEVERITY_WEIGHTS[definition.severity]
        raw_failing = any(r.status == Status.FAIL for r in judged)
        failing = any(r.status == Status.FAIL and not r.excepted for r in judged)
        tally.denominator += weight
        tally.raw_numerator += 0 if raw_failing else weight
        tally.numerator += 0 if failing else weight
    return tallies


def area_weights(definitions: dict[str, CheckDefinition]) -> dict[str, int]:
    """Total weight of each area's checks: how much each area counts in the overall score."""
    weights = {area.value: 0 for area in Area}
    for definition in definitions.values():
        weights[definition.area] += SEVERITY_WEIGHTS[definition.severity]
    return weights


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def overall(area_scores: dict[str, float | None], weights: dict[str, int]) -> float | None:
    """Weighted mean of the area scores that exist."""
    total = sum(weights[a] for a, s in area_scores.items() if s is not None)
    if not total:
        return None
    return sum(s * weights[a] for a, s in area_scores.items() if s is not None) / total


def coverage(decided: int, expected: int) -> float | None:
    return None if not expected else 100.0 * decided / expected
