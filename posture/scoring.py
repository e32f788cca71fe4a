"""The score formula.

- Weights by severity: critical 8, high 4, medium 2, low 1.
- Per account and check: 1 when no resource FAILs, 0 when any does; the check is left out when every
  result is NOT_APPLICABLE or UNKNOWN.
- Area score of an account: 100 x sum(weight x value) / sum(weight), over the checks not left out.
- Area score across accounts: the mean over accounts that have a score in the area.
- Overall: the mean of the area scores, each weighted by the total weight of the area's checks.
- Coverage: results decided (PASS, FAIL, NOT_APPLICABLE) / results expected (all results, so an
  UNKNOWN or an account whose role could not be assumed lowers it and never raises the score).
- Headline vs raw: the headline counts a FAIL under a valid accepted risk as passed; the raw score
  does not. Until exceptions exist, both are equal.
- False positives: a FAIL under a valid false-positive exception counts as NOT_APPLICABLE in both
  scores, because the check was wrong about the resource.
- Expiry: an exception stops counting when it expires, also between scans. Each snapshot stores
  what its scores owe to expiring exceptions (`exception_lapses`), and reads take it back once the
  expiry has passed (see posture/scores.py).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from posture.checks.base import SEVERITY_WEIGHTS, Area, CheckDefinition, Status


@dataclass(frozen=True)
class ResultRow:
    """The minimum a score needs of one result."""

    check_id: str
    status: str
    excepted: bool = False  # a FAIL covered by a valid accepted risk: passes in the headline only
    false_positive: bool = False  # a FAIL covered by a valid false positive: NOT_APPLICABLE in both
    exception_expires_at: dt.datetime | None = None  # when the covering exception lapses; None: never

    @property
    def scored_status(self) -> str:
        """The status the formula uses: a false-positive FAIL counts as NOT_APPLICABLE."""
        if self.false_positive and self.status == Status.FAIL:
            return Status.NOT_APPLICABLE
        return self.status

    @property
    def lapses_at(self) -> dt.datetime | None:
        """When this row stops being excepted, or None when it is not excepted or never lapses."""
        return self.exception_expires_at if self.excepted or self.false_positive else None


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
            status = row.scored_status
            if status == Status.PASS:
                tally.passed += 1
            elif status == Status.FAIL:
                tally.failed += 1
            elif status == Status.UNKNOWN:
                tally.unknown += 1
            else:
                tally.not_applicable += 1
        tally.decided = tally.passed + tally.failed + tally.not_applicable

        numerator, raw_numerator, denominator = check_contribution(
            rows, SEVERITY_WEIGHTS[definition.severity]
        )
        tally.numerator += numerator
        tally.raw_numerator += raw_numerator
        tally.denominator += denominator
    return tallies


def check_contribution(rows: Sequence[ResultRow], weight: int) -> tuple[float, float, float]:
    """Return what one check of one account adds to (numerator, raw numerator, denominator)."""
    judged = [r for r in rows if r.scored_status in (Status.PASS, Status.FAIL)]
    if not judged:
        return 0.0, 0.0, 0.0
    raw_failing = any(r.scored_status == Status.FAIL for r in judged)
    failing = any(r.scored_status == Status.FAIL and not r.excepted for r in judged)
    return (0.0 if failing else float(weight), 0.0 if raw_failing else float(weight), float(weight))


def exception_lapses(
    results: Iterable[ResultRow], definitions: dict[str, CheckDefinition]
) -> dict[str, list[dict]]:
    """Return, per area, how one account's values change as its expiring exceptions lapse.

    For each check and each expiry time t among its excepted rows, one entry {"check_id",
    "expires_at", "numerator", "raw_numerator", "denominator"} is the change against the tally
    once every exception of the check expiring at or before t has lapsed. Entries are cumulative,
    so a read applies only the latest entry per check whose time has passed (`lapse_delta`).
    Exceptions without an expiry never lapse and give no entry.
    """
    by_check: dict[str, list[ResultRow]] = defaultdict(list)
    for row in results:
        by_check[row.check_id].append(row)

    lapses: dict[str, list[dict]] = defaultdict(list)
    for check_id, rows in by_check.items():
        definition = definitions.get(check_id)
        if definition is None:
            continue
        times = sorted({row.lapses_at for row in rows if row.lapses_at is not None})
        if not times:
            continue
        weight = SEVERITY_WEIGHTS[definition.severity]
        base = check_contribution(rows, weight)
        for when in times:
            lapsed = [
                replace(row, excepted=False, false_positive=False)
                if row.lapses_at is not None and row.lapses_at <= when
                else row
                for row in rows
            ]
            delta = [
                after - before for after, before in zip(check_contribution(lapsed, weight), base, strict=True)
            ]
            if any(delta):
                lapses[definition.area].append(
                    {
                        "check_id": check_id,
                        "expires_at": when.isoformat(),
                        "numerator": delta[0],
                        "raw_numerator": delta[1],
                        "denominator": delta[2],
                    }
                )
    return dict(lapses)


def lapse_delta(lapses: Iterable[dict], now: dt.datetime) -> tuple[float, float, float]:
    """Return the change to (numerator, raw numerator, denominator) of the entries due by `now`.

    Per check only the latest due entry counts, because each entry already includes the earlier
    ones of its check.
    """
    latest: dict[str, tuple[dt.datetime, dict]] = {}
    for entry in lapses:
        when = dt.datetime.fromisoformat(entry["expires_at"])
        if when > now:
            continue
        current = latest.get(entry["check_id"])
        if current is None or when > current[0]:
            latest[entry["check_id"]] = (when, entry)
    numerator = sum(entry["numerator"] for _, entry in latest.values())
    raw_numerator = sum(entry["raw_numerator"] for _, entry in latest.values())
    denominator = sum(entry["denominator"] for _, entry in latest.values())
    return numerator, raw_numerator, denominator


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
