"""Reads for the overview: scores and their trend, score cards, the latest scan's changes and the ranking.

Every score comes from ScoreSnapshot rows, aggregated in the database by posture/scores.py, which
applies the formula of posture/scoring.py. Besides snapshots, the overview reads the account list
(for its filter), the FindingEvent rows of one scan and two small reads of running scans and
notes. No read here issues a query per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, NullIf, RowNumber
from django.utils import timezone

from accounts.models import Account
from posture import score_lapses, scores
from posture.checks.base import Area, Severity, Status, registry
from posture.models import FindingEvent, Scan, ScoreSnapshot
from posture.scoring import area_weights, overall

# A failed scan has snapshots without scores, so notes skip it.
SCORED_STATES = (Scan.State.COMPLETED, Scan.State.PARTIAL)
# About a year of daily scans. Older points would crowd the chart.
TREND_MAX_SCANS = 400
CHANGE_PERIODS_DAYS = (7, 30)
# Findings listed per kind of change of the latest scan; the rest are counted and linked.
EVENTS_PER_KIND = 10
# Points in each account's sparkline: its overall score in the latest scans of the trend.
SPARKLINE_SCANS = 30


# The accounts the overview reads.
@dataclass(frozen=True)
class AccountOption:
    pk: int
    account_id: str
    name: str
    environment: str


def account_options() -> list[AccountOption]:
    """Return every account, sorted by name, for the filter (one query)."""
    return [
        AccountOption(pk=pk, account_id=account_id, name=name, environment=environment)
        for pk, account_id, name, environment in Account.objects.order_by("name", "account_id").values_list(
            "pk", "account_id", "name", "environment"
        )
    ]


def environments(options: list[AccountOption]) -> list[str]:
    """Return the distinct non-empty environment labels of the accounts, sorted."""
    return sorted({option.environment for option in options if option.environment})


def accounts_in_scope(
    options: list[AccountOption], *, account_id: str = "", environment: str = ""
) -> list[int] | None:
    """Return the primary keys of the accounts matching both filters, or None when neither is set.

    None means every account, including accounts deleted since, whose snapshots still count in
    the history. An empty list means the filters match no account.
    """
    if not account_id and not environment:
        return None
    return [
        option.pk
        for option in options
        if (not account_id or option.account_id == account_id)
        and (not environment or option.environment == environment)
    ]


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

    def raw_score_of(self, area: str) -> float | None:
        return next((a.raw_score for a in self.scores.areas if a.area == area), None)

    def coverage_of(self, area: str) -> float | None:
        return next((a.coverage for a in self.scores.areas if a.area == area), None)


@dataclass(frozen=True)
class Change:
    """The change of a score over a number of days, in points; None when there is no older scan."""

    days: int
    points: float | None

    @property
    def direction(self) -> str:
        """Return "up", "down" or "flat" (a change under 0.05 points rounds to 0.0), or "none"."""
        if self.points is None:
            return "none"
        if round(self.points, 1) == 0:
            return "flat"
        return "up" if self.points > 0 else "down"

    @property
    def size(self) -> float | None:
        """Return the change without its sign, for sentences such as "down 2.5 points"."""
        return None if self.points is None else abs(self.points)


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
    # The area's value (such as "monitoring"), or None for the overall card.
    area: str | None = None

    @property
    def incomplete(self) -> bool:
        return scores.is_incomplete(self.coverage)

    @property
    def deltas(self) -> list[Change]:
        return [Change(days=days, points=points) for days, points in self.changes.items()]

    @property
    def longest_change(self) -> Change | None:
        """Return the change over the longest period that has an older scan, or None."""
        known = [change for change in self.deltas if change.points is not None]
        return max(known, key=lambda change: change.days, default=None)


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


def score_trend(*, accounts: list[int] | None = None, max_scans: int = TREND_MAX_SCANS) -> list[TrendPoint]:
    """Return the scores of the latest `max_scans` scored scans, oldest first (two snapshot queries).

    With `accounts`, scores and coverage count only those accounts, and a scan that decided
    nothing for them is left out.
    """
    scans = scores.scored_scans(accounts=accounts, max_scans=max_scans)
    scans.reverse()
    by_scan = scores.scores_by_scan([scan.scan_id for scan in scans], accounts=accounts)
    return [
        TrendPoint(
            scan_id=scan.scan_id,
            scanned_at=scan.scanned_at,
            ruleset_version=scan.ruleset_version,
            scores=by_scan[scan.scan_id],
        )
        for scan in scans
        if scan.scan_id in by_scan
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
                area=area.area,
            )
        )
    return cards


def worst_area_card(cards: list[ScoreCard]) -> ScoreCard | None:
    """Return the area card with the lowest score, or None when no area has a score."""
    scored = [card for card in cards if card.area is not None and card.score is not None]
    return min(scored, key=lambda card: card.score, default=None)


# Changes of the latest scan.
@dataclass(frozen=True)
class EventRow:
    finding_pk: int
    check_id: str
    check_title: str
    resource_id: str
    region: str
    severity: str
    account_name: str


@dataclass
class EventGroup:
    """The findings of one kind of change in one scan: the first few, and how many there are."""

    key: str
    title: str
    # Status of the findings after the change, for the link to the findings list.
    status: str
    count: int = 0
    rows: list[EventRow] = field(default_factory=list)


def scan_events(
    *, scan_id: int, accounts: list[int] | None = None, limit: int = EVENTS_PER_KIND
) -> list[EventGroup]:
    """Return the findings the scan newly saw failing, saw resolved and saw failing again (reopened).

    One query: a window function numbers the events of each kind (most severe first) and counts
    them, and only the first `limit` of each kind are fetched.
    """
    groups = {
        FindingEvent.Kind.OPENED: EventGroup(key="new", title="New failing", status=Status.FAIL),
        FindingEvent.Kind.RESOLVED: EventGroup(key="resolved", title="Resolved", status=Status.PASS),
        FindingEvent.Kind.REOPENED: EventGroup(key="reopened", title="Reopened", status=Status.FAIL),
    }
    events = FindingEvent.objects.filter(scan_id=scan_id).filter(
        Q(kind=FindingEvent.Kind.OPENED, new_status=Status.FAIL)
        | Q(kind__in=[FindingEvent.Kind.RESOLVED, FindingEvent.Kind.REOPENED])
    )
    if accounts is not None:
        events = events.filter(finding__account_id__in=accounts)
    severity_rank = Case(
        *[When(finding__severity=severity, then=Value(rank)) for rank, severity in enumerate(Severity)],
        default=Value(len(Severity)),
        output_field=IntegerField(),
    )
    rows = (
        events.annotate(
            position=Window(
                RowNumber(), partition_by=[F("kind")], order_by=[severity_rank.asc(), F("id").asc()]
            ),
            total=Window(Count("id"), partition_by=[F("kind")]),
        )
        .filter(position__lte=limit)
        .values(
            "kind",
            "position",
            "total",
            "finding_id",
            "finding__check_id",
            "finding__resource_id",
            "finding__region",
            "finding__severity",
            "finding__account__name",
        )
        .order_by("kind", "position")
    )
    definitions = registry()
    for row in rows:
        group = groups[row["kind"]]
        group.count = row["total"]
        definition = definitions.get(row["finding__check_id"])
        group.rows.append(
            EventRow(
                finding_pk=row["finding_id"],
                check_id=row["finding__check_id"],
                check_title=definition.title if definition else row["finding__check_id"],
                resource_id=row["finding__resource_id"],
                region=row["finding__region"],
                severity=row["finding__severity"],
                account_name=row["finding__account__name"],
            )
        )
    return list(groups.values())


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


def account_ranking(
    *, scan_id: int, accounts: list[int] | None = None, now: dt.datetime | None = None
) -> list[dict]:
    """Return one row per account of the scan, worst overall score first.

    Each row is a dict with the overall score and coverage, and `score_<area>` and
    `coverage_<area>` for every area. The overall score of an account is the mean of its area
    scores weighted by the areas' check weights, the same formula as the overall score of a scan.
    Accounts without any score (their role could not be assumed, say) come first, because nothing
    is known about them. With `accounts`, only those accounts are ranked.

    As on the score cards, an account's latest snapshots lose what they owed to exceptions
    expired by `now` (default: the current time), see posture/score_lapses.py. One query, and two
    more only when something lapsed.
    """
    now = now or timezone.now()
    scored = Q(denominator__gt=0)
    account_score = 100.0 * F("numerator") / NullIf(F("denominator"), 0.0)
    annotations = {}
    for area in Area:
        in_area = Q(area=area.value)
        annotations[f"score_{area.value}"] = Max(account_score, filter=in_area & scored)
        annotations[f"coverage_{area.value}"] = _percent(
            Sum("results_decided", filter=in_area), Sum("results_expected", filter=in_area)
        )
    snapshots = ScoreSnapshot.objects.filter(scan_id=scan_id)
    if accounts is not None:
        snapshots = snapshots.filter(account_id__in=accounts)
    rows = list(
        snapshots.values("account_id", "account__name", "account__account_id")
        .annotate(
            **annotations,
            score=scores.account_overall_score(),
            coverage=_percent(Sum("results_decided"), Sum("results_expected")),
            lapsing=Count("pk", filter=Q(exceptions_expire_at__lte=now)),
        )
        .order_by(F("score").asc(nulls_first=True), "account__name", "account_id")
    )
    if any(row["lapsing"] for row in rows):
        _ranking_lapse(rows, scan_id=scan_id, accounts=accounts, now=now)
    return rows


def _ranking_lapse(rows: list[dict], *, scan_id: int, accounts: list[int] | None, now: dt.datetime) -> None:
    """Apply expired exceptions to the ranking `rows` in place, and sort them again."""
    lapsed = score_lapses.account_area_scores_lapsed([scan_id], accounts=accounts, now=now)
    weights = area_weights(registry())
    for row in rows:
        area_scores = lapsed.get((row["account_id"], scan_id))
        if area_scores is None:
            continue
        for area, score in area_scores.items():
            row[f"score_{area}"] = score
        row["score"] = overall({area.value: row[f"score_{area.value}"] for area in Area}, weights)
    # The database's order: no score first, then the lowest score, then by name and primary key.
    rows.sort(
        key=lambda row: (
            row["score"] is not None,
            row["score"] or 0.0,
            row["account__name"],
            row["account_id"],
        )
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


def account_histories(
    *,
    account_pks: list[int],
    trend: list[TrendPoint],
    scans: int = SPARKLINE_SCANS,
    now: dt.datetime | None = None,
) -> dict[int, list[float | None]]:
    """Return each account's overall score in the latest `scans` points of the trend, oldest first.

    One query for all accounts, and two more only when an exception expired by `now` (default: the
    current time) lowers an account's latest score, as it does on the score cards. A scan in which
    an account has no score gives None at its place.
    """
    points = trend[-scans:]
    by_account = scores.account_scores_by_scan([p.scan_id for p in points], accounts=account_pks, now=now)
    return {pk: [by_account.get(pk, {}).get(point.scan_id) for point in points] for pk in account_pks}
