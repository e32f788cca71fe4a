"""Reads of score snapshots: the per-area and overall scores of scans, aggregated in the database.

The formula itself is in posture/scoring.py; this module applies it to stored ScoreSnapshot rows.
Every read here is one grouped query whose row count grows with scans (and accounts, for the
per-account reads), never with resources or findings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Avg, Case, Count, F, FloatField, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from posture.checks.base import Area, registry
from posture.models import Scan, ScoreSnapshot
from posture.score_lapses import account_area_scores_lapsed, area_scores_lapsed
from posture.scoring import area_weights, coverage, overall

# A scan whose coverage is below this percentage is incomplete: its score rests on fewer results
# than expected (UNKNOWN results, or accounts whose role could not be assumed), so charts mark it.
COMPLETE_COVERAGE = 95.0


def is_incomplete(coverage_percent: float | None) -> bool:
    """Return True for a coverage under COMPLETE_COVERAGE, or no coverage at all."""
    return coverage_percent is None or coverage_percent < COMPLETE_COVERAGE


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


@dataclass(frozen=True)
class ScoredScan:
    """A scan that has snapshots with at least one decided result, as the snapshots record it."""

    scan_id: int
    scanned_at: dt.datetime
    ruleset_version: str


def scored_scans(*, accounts: Iterable[int] | None = None, max_scans: int | None = None) -> list[ScoredScan]:
    """Return the scans that decided at least one result, newest first (one grouped query).

    Reads snapshots only. A scan that failed for every account (or, with `accounts`, for every
    account asked for) decided nothing, so it has no score and is left out. Running scans have no
    snapshots yet.
    """
    snapshots: QuerySet[ScoreSnapshot] = ScoreSnapshot.objects.all()
    if accounts is None:
        # A scan of chosen accounts would stand for all of them; only scans of every account count.
        snapshots = snapshots.filter(all_accounts=True)
    else:
        accounts = list(accounts)
        snapshots = snapshots.filter(account_id__in=accounts)
    rows = (
        snapshots.values("scan_id", "scanned_at", "ruleset_version", "all_accounts")
        .annotate(decided=Sum("results_decided"), account_count=Count("account_id", distinct=True))
        .filter(decided__gt=0)
        .order_by("-scanned_at", "-scan_id")
    )
    if accounts is not None:
        # A scan of some of the selected accounts counts only if it scanned all of them, or every
        # account there was.
        rows = rows.filter(Q(all_accounts=True) | Q(account_count=len(set(accounts))))
    if max_scans is not None:
        rows = rows[:max_scans]
    return [
        ScoredScan(
            scan_id=row["scan_id"], scanned_at=row["scanned_at"], ruleset_version=row["ruleset_version"]
        )
        for row in rows
    ]


def scores_by_scan(
    scan_ids: Iterable[int], *, accounts: Iterable[int] | None = None, now: dt.datetime | None = None
) -> dict[int, ScanScores]:
    """Return the scores of each scan, optionally restricted to some account primary keys.

    One grouped query: per (scan, area) the mean over accounts of each account's score, and the
    summed counts for coverage. A snapshot that is still its account's latest loses what it owed
    to exceptions expired by `now` (default: the current time); see posture/score_lapses.py.
    """
    scan_ids = list(scan_ids)
    accounts = None if accounts is None else list(accounts)
    now = now or timezone.now()
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
            # Snapshots owing something to an exception expired by now: rare, read again below.
            lapsing=Count("pk", filter=Q(exceptions_expire_at__lte=now)),
        )
        .order_by("scan_id", "area")
    )
    weights = area_weights(registry())
    grouped: dict[int, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        grouped[row["scan_id"]][row["area"]] = row
    if any(row["lapsing"] for by_area in grouped.values() for row in by_area.values()):
        area_scores_lapsed(grouped, scan_ids, accounts=accounts, now=now)

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


def account_overall_score() -> CombinedExpression:
    """Return an aggregate: one account's overall score over its snapshot rows of one scan.

    The mean of the account's area scores weighted by the areas' check weights, the same formula
    as the overall score of a scan. Areas without a score (nothing judged) are left out, and the
    result is NULL when no area has a score. Use it in a query grouped by account and scan.
    """
    weights = {area: weight for area, weight in area_weights(registry()).items() if weight}
    area_score = 100.0 * F("numerator") / NullIf(F("denominator"), 0.0)
    weighted_sum = Sum(
        Case(
            *[
                When(area=area, denominator__gt=0, then=Value(float(weight)) * area_score)
                for area, weight in weights.items()
            ],
            default=None,
            output_field=FloatField(),
        )
    )
    weight_sum = Sum(
        Case(
            *[When(area=area, denominator__gt=0, then=Value(weight)) for area, weight in weights.items()],
            default=None,
            output_field=IntegerField(),
        )
    )
    return weighted_sum / NullIf(Cast(weight_sum, FloatField()), 0.0)


def account_scores_by_scan(
    scan_ids: Iterable[int], *, accounts: Iterable[int], now: dt.datetime | None = None
) -> dict[int, dict[int, float | None]]:
    """Return each account's overall score per scan: {account pk: {scan id: score}} (one query).

    An account missing from a scan has no entry for it. Rows are (account, scan) pairs, so the
    result grows with accounts times scans and never with resources. As in `scores_by_scan`, an
    account's latest snapshots lose what they owed to exceptions expired by `now` (default: the
    current time), which costs two more queries only when something lapsed.
    """
    scan_ids = list(scan_ids)
    accounts = list(accounts)
    now = now or timezone.now()
    rows = (
        ScoreSnapshot.objects.filter(scan_id__in=scan_ids, account_id__in=accounts)
        .values("account_id", "scan_id")
        .annotate(score=account_overall_score(), lapsing=Count("pk", filter=Q(exceptions_expire_at__lte=now)))
        .order_by("account_id", "scan_id")
    )
    by_account: dict[int, dict[int, float | None]] = defaultdict(dict)
    lapsing = False
    for row in rows:
        by_account[row["account_id"]][row["scan_id"]] = row["score"]
        lapsing = lapsing or bool(row["lapsing"])
    if lapsing:
        weights = area_weights(registry())
        lapsed = account_area_scores_lapsed(scan_ids, accounts=accounts, now=now)
        for (account_id, scan_id), area_scores in lapsed.items():
            by_account[account_id][scan_id] = overall(area_scores, weights)
    return dict(by_account)
