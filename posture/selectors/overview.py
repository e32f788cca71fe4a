"""Reads for the overview: scores and their trend, score cards, changes and the account ranking.

Every score comes from ScoreSnapshot rows, aggregated in the database by posture/scores.py, which
applies the formula of posture/scoring.py. No read here issues a query per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, NullIf

from posture import scores
from posture.checks.base import Area, Status, registry
from posture.models import FindingEvent, Scan, ScoreSnapshot
from posture.scoring import area_weights

# A failed scan has snapshots without scores, so the overview and the trend skip it.
SCORED_STATES = (Scan.State.COMPLETED, Scan.State.PARTIAL)
# About a year of daily scans. Older points would crowd the chart.
TREND_MAX_SCANS = 400
CHANGE_PERIODS_DAYS = (7, 30)


# Scores and trend.
@dataclass(frozen=True)
class TrendPoint:
    """The scores of one scored scan."""

    scan_id: int
    scanned_at: dt.datetime
    ruleset_version: str
    scores: scores.ScanScores

    def score_of(self, area: str) -> float | None:
        return next((a.score for a in self.scores.areas if a.area == area), None)

    def coverage_of(self, area: str) -> float | None:
        return next((a.coverage for a in self.scores.areas if a.area == area), None)


@dataclass(frozen=True)
class ScoreCard:
    """One headline number of the overview: the overall score or the score of one area."""

    label: str
    score: float | None
    raw_score: float | None
    coverage: float | None
    weight: int | None
    # Change since the latest scan at least that many days older, keyed by days.
    changes: dict[int, float | None]


def scan_in_progress() -> Scan | None:
    return (
        Scan.objects.filter(state__in=[Scan.State.QUEUED, Scan.State.RUNNING])
        .order_by("-created_at", "-id")
        .first()
    )


def scan_notes() -> list[str]:
    """Distinct notes of the scored scans, such as the demo's note that its dates are simulated."""
    return list(
        Scan.objects.filter(state__in=SCORED_STATES)
        .exclude(note="")
        .order_by("note")
        .values_list("note", flat=True)
        .distinct()
    )


def score_trend(*, max_scans: int = TREND_MAX_SCANS) -> list[TrendPoint]:
    """Return the scores of the latest `max_scans` scored scans, oldest first (two queries)."""
    scans = list(
        Scan.objects.filter(state__in=SCORED_STATES)
        .order_by("-scanned_at", "-id")
        .values("id", "scanned_at", "ruleset_version")[:max_scans]
    )
    scans.reverse()
    by_scan = scores.scores_by_scan([scan["id"] for scan in scans])
    return [
        TrendPoint(
            scan_id=scan["id"],
            scanned_at=scan["scanned_at"],
            ruleset_version=scan["ruleset_version"],
            scores=by_scan[scan["id"]],
        )
        for scan in scans
        if scan["id"] in by_scan
    ]


def _change(latest: float | None, baseline: float | None) -> float | None:
    return None if latest is None or baseline is None else latest - baseline


def score_cards(trend: list[TrendPoint]) -> list[ScoreCard]:
    """Build the overall card and one card per area from the latest point of `trend`.

    A change over N days compares with the newest scan that is at least N days older than the
    latest one. It is None when the trend has no such scan.
    """
    if not trend:
        return []
    latest = trend[-1]
    baselines: dict[int, TrendPoint | None] = {}
    for days in CHANGE_PERIODS_DAYS:
        cutoff = latest.scanned_at - dt.timedelta(days=days)
        baselines[days] = next((p for p in reversed(trend) if p.scanned_at <= cutoff), None)

    cards = [
        ScoreCard(
            label="Overall",
            score=latest.scores.overall,
            raw_score=latest.scores.raw_overall,
            coverage=latest.scores.coverage,
            weight=None,
            changes={
                days: _change(latest.scores.overall, base.scores.overall if base else None)
                for days, base in baselines.items()
            },
        )
    ]
    for area in latest.scores.areas:
        cards.append(
            ScoreCard(
                label=area.label,
                score=area.score,
                raw_score=area.raw_score,
                coverage=area.coverage,
                weight=area.weight,
                changes={
                    days: _change(area.score, base.score_of(area.area) if base else None)
                    for days, base in baselines.items()
                },
            )
        )
    return cards


def scan_changes(*, scan_id: int) -> dict[str, int]:
    """Count the findings a scan newly saw failing and the ones it saw resolved."""
    return FindingEvent.objects.filter(scan_id=scan_id).aggregate(
        new_failing=Count(
            "id",
            filter=Q(
                new_status=Status.FAIL,
                kind__in=[FindingEvent.Kind.OPENED, FindingEvent.Kind.REOPENED],
            ),
        ),
        resolved=Count("id", filter=Q(kind=FindingEvent.Kind.RESOLVED)),
    )


# Account ranking.
@dataclass(frozen=True)
class AreaCell:
    area: str
    score: float | None
    coverage: float | None


@dataclass(frozen=True)
class AccountRank:
    """One account's scores in one scan: overall and per area, each with its coverage."""

    account_pk: int
    name: str
    account_id: str
    score: float | None
    coverage: float | None
    areas: list[AreaCell]


def _percent(numerator, denominator) -> Cast:
    """100 x numerator / denominator as a float, NULL when the denominator is 0."""
    return 100.0 * Cast(numerator, FloatField()) / NullIf(Cast(denominator, FloatField()), 0.0)


def account_ranking(*, scan_id: int) -> QuerySet:
    """Return one row per account of the scan, worst overall score first.

    Each row is a dict with the overall score and coverage, and `score_<area>` and
    `coverage_<area>` for every area. The overall score of an account is the mean of its area
    scores weighted by the areas' check weights, the same formula as the overall score of a scan.
    Accounts without any score (their role could not be assumed, say) come first, because nothing
    is known about them.
    """
    weights = area_weights(registry())
    scored = Q(denominator__gt=0)
    account_score = 100.0 * F("numerator") / NullIf(F("denominator"), 0.0)
    annotations = {}
    for area in Area:
        in_area = Q(area=area.value)
        annotations[f"score_{area.value}"] = Max(account_score, filter=in_area & scored)
        annotations[f"coverage_{area.value}"] = _percent(
            Sum("results_decided", filter=in_area), Sum("results_expected", filter=in_area)
        )
    weighted_sum = Sum(
        Case(
            *[
                When(area=area, denominator__gt=0, then=Value(float(weight)) * account_score)
                for area, weight in weights.items()
                if weight
            ],
            default=None,
            output_field=FloatField(),
        )
    )
    weight_sum = Sum(
        Case(
            *[
                When(area=area, denominator__gt=0, then=Value(weight))
                for area, weight in weights.items()
                if weight
            ],
            default=None,
            output_field=IntegerField(),
        )
    )
    return (
        ScoreSnapshot.objects.filter(scan_id=scan_id)
        .values("account_id", "account__name", "account__account_id")
        .annotate(
            **annotations,
            score=weighted_sum / NullIf(Cast(weight_sum, FloatField()), 0.0),
            coverage=_percent(Sum("results_decided"), Sum("results_expected")),
        )
        .order_by(F("score").asc(nulls_first=True), "account__name", "account_id")
    )


def account_rank_rows(rows) -> list[AccountRank]:
    """Turn rows of `account_ranking` into AccountRank objects, for templates."""
    return [
        AccountRank(
            account_pk=row["account_id"],
            name=row["account__name"],
            account_id=row["account__account_id"],
            score=row["score"],
            coverage=row["coverage"],
            areas=[
                AreaCell(
                    area=area.value,
                    score=row[f"score_{area.value}"],
                    coverage=row[f"coverage_{area.value}"],
                )
                for area in Area
            ],
        )
        for row in rows
    ]
