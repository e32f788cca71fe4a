"""Reads of score snapshots: the per-area and overall scores of scans, aggregated in the database.

The formula itself is in posture/scoring.py; this module applies it to stored ScoreSnapshot rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Avg, Case, F, FloatField, QuerySet, Sum, When

from posture.checks.base import Area, registry
from posture.models import Scan, ScoreSnapshot
from posture.scoring import area_weights, coverage, overall


@dataclass(frozen=True)
class AreaScore:
    area: str
    label: str
    score: float | None
    raw_score: float | None
    coverage: float | None
    weight: int


@dataclass(frozen=True)
class ScanScores:
    scan_id: int
    areas: list[AreaScore]
    overall: float | None
    raw_overall: float | None
    coverage: float | None


def _account_score(numerator: str) -> Case:
    return Case(
        When(denominator__gt=0, then=100.0 * F(numerator) / F("denominator")),
        default=None,
        output_field=FloatField(),
    )


def scores_by_scan(
    scan_ids: Iterable[int], *, accounts: Iterable[int] | None = None
) -> dict[int, ScanScores]:
    """Return the scores of each scan, optionally restricted to some account primary keys.

    One grouped query: per (scan, area) the mean over accounts of each account's score, and the
    summed counts for coverage.
    """
    snapshots: QuerySet[ScoreSnapshot] = ScoreSnapshot.objects.filter(scan_id__in=list(scan_ids))
    if accounts is not None:
        snapshots = snapshots.filter(account_id__in=list(accounts))
    rows = (
        snapshots.values("scan_id", "area")
        .annotate(
            score=Avg(_account_score("numerator")),
            raw_score=Avg(_account_score("raw_numerator")),
            decided=Sum("results_decided"),
            expected=Sum("results_expected"),
        )
        .order_by("scan_id", "area")
    )
    weights = area_weights(registry())
    grouped: dict[int, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        grouped[row["scan_id"]][row["area"]] = row

    result = {}
    for scan_id, by_area in grouped.items():
        areas = [
            AreaScore(
                area=area.value,
                label=area.label,
                score=by_area.get(area.value, {}).get("score"),
                raw_score=by_area.get(area.value, {}).get("raw_score"),
                coverage=coverage(
                    by_area.get(area.value, {}).get("decided") or 0,
                    by_area.get(area.value, {}).get("expected") or 0,
                ),
                weight=weights[area.value],
            )
            for area in Area
        ]
        decided = sum(r["decided"] or 0 for r in by_area.values())
        expected = sum(r["expected"] or 0 for r in by_area.values())
        result[scan_id] = ScanScores(
            scan_id=scan_id,
            areas=areas,
            overall=overall({a.area: a.score for a in areas}, weights),
            raw_overall=overall({a.area: a.raw_score for a in areas}, weights),
            coverage=coverage(decided, expected),
        )
    return result


def scan_scores(scan: Scan, *, accounts: Iterable[int] | None = None) -> ScanScores:
    """Scores of one scan; an unfinished scan or one without snapshots has no score."""
    found = scores_by_scan([scan.pk], accounts=accounts).get(scan.pk)
    if found is not None:
        return found
    weights = area_weights(registry())
    return ScanScores(
        scan_id=scan.pk,
        areas=[AreaScore(a.value, a.label, None, None, None, weights[a.value]) for a in Area],
        overall=None,
        raw_overall=None,
        coverage=None,
    )
