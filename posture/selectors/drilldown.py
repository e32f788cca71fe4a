"""Reads for the drill-down pages: an area's checks, a check's accounts, one account's resources.

Counts of the current state come from current findings (`Finding.is_current`), grouped in the
database in one query per table. Trends of failing resources come from CheckCount rows of the
latest scored scans, also in one grouped query. No read here issues a query per row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, Max, Q, QuerySet, Sum, Value, When

from posture.checks.base import CheckDefinition, Status, registry
from posture.models import CheckCount, Finding, Scan
from posture.scores import AreaScore, scores_by_scan

# A failed scan judged nothing, so trends skip it like the score trend does.
TREND_STATES = (Scan.State.COMPLETED, Scan.State.PARTIAL)
# Points of the sparklines on the area page and of the trend on the check page.
AREA_TREND_SCANS = 30
CHECK_TREND_SCANS = 90


@dataclass(frozen=True)
class TrendScan:
    scan_id: int
    scanned_at: dt.datetime


@dataclass(frozen=True)
class FailingPoint:
    """Failing resources of one check in one scan, summed over the accounts that scan judged."""

    scan_id: int
    scanned_at: dt.datetime
    # None when no account gave the check a result in that scan (the check did not exist yet, or
    # every account of the scan failed before running it).
    failing: int | None
    accounts: int


@dataclass(frozen=True)
class StatusCounts:
    failing: int = 0
    passing: int = 0
    unknown: int = 0
    not_applicable: int = 0

    @property
    def total(self) -> int:
        return self.failing + self.passing + self.unknown + self.not_applicable

    @classmethod
    def sum_of(cls, counts: Iterable[StatusCounts]) -> StatusCounts:
        counts = list(counts)
        return cls(
            failing=sum(c.failing for c in counts),
            passing=sum(c.passing for c in counts),
            unknown=sum(c.unknown for c in counts),
            not_applicable=sum(c.not_applicable for c in counts),
        )

    def of(self, status: str) -> int:
        return {
            Status.FAIL: self.failing,
            Status.PASS: self.passing,
            Status.UNKNOWN: self.unknown,
            Status.NOT_APPLICABLE: self.not_applicable,
        }[status]


@dataclass(frozen=True)
class AreaCheckRow:
    """One check of the area page: its current counts across accounts and its failing trend."""

    definition: CheckDefinition
    counts: StatusCounts
    accounts: int  # accounts with a current result of the check
    accounts_failing: int
    trend: list[FailingPoint] = field(default_factory=list)

    @property
    def score_weight_lost(self) -> int:
        """Severity weight times failing accounts: how much the check pulls the area score down."""
        return self.definition.weight * self.accounts_failing


@dataclass(frozen=True)
class CheckAccountRow:
    """One account on the check page: its current results under the check."""

    account_pk: int
    name: str
    account_id: str
    environment: str
    counts: StatusCounts
    last_seen_at: dt.datetime


def _status_counts() -> dict[str, Count]:
    """Aggregates of current findings per status, named like the StatusCounts fields."""
    return {
        "failing": Count("id", filter=Q(status=Status.FAIL)),
        "passing": Count("id", filter=Q(status=Status.PASS)),
        "unknown": Count("id", filter=Q(status=Status.UNKNOWN)),
        "not_applicable": Count("id", filter=Q(status=Status.NOT_APPLICABLE)),
    }


def _counts_of(row: dict) -> StatusCounts:
    return StatusCounts(
        failing=row["failing"],
        passing=row["passing"],
        unknown=row["unknown"],
        not_applicable=row["not_applicable"],
    )


# Trends.
def trend_scans(*, limit: int) -> list[TrendScan]:
    """Return the latest `limit` scored scans (completed or partial), oldest first."""
    rows = list(
        Scan.objects.filter(state__in=TREND_STATES)
        .order_by("-scanned_at", "-id")
        .values_list("id", "scanned_at")[:limit]
    )
    rows.reverse()
    return [TrendScan(scan_id=scan_id, scanned_at=scanned_at) for scan_id, scanned_at in rows]


def failing_trends(*, check_ids: Iterable[str], scans: list[TrendScan]) -> dict[str, list[FailingPoint]]:
    """Return per check id one point per scan of `scans`, in their order (one grouped query).

    NOTE: a point sums the accounts that scan judged, so a scan of a single account, or one in
    which some accounts failed, shows fewer failing resources than a scan of every account.
    `FailingPoint.accounts` is the number of accounts a point sums.
    """
    check_ids = list(check_ids)
    if not check_ids or not scans:
        return {check_id: [] for check_id in check_ids}
    rows = (
        CheckCount.objects.filter(scan_id__in=[s.scan_id for s in scans], check_id__in=check_ids)
        .values("check_id", "scan_id")
        .annotate(failing=Sum("failed"), accounts=Count("account_id"))
        .order_by()
    )
    by_check: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        by_check[row["check_id"]][row["scan_id"]] = row

    trends = {}
    for check_id in check_ids:
        found = by_check.get(check_id, {})
        trends[check_id] = [
            FailingPoint(
                scan_id=scan.scan_id,
                scanned_at=scan.scanned_at,
                failing=found[scan.scan_id]["failing"] if scan.scan_id in found else None,
                accounts=found[scan.scan_id]["accounts"] if scan.scan_id in found else 0,
            )
            for scan in scans
        ]
    return trends


# Area page.
def area_definitions(area: str) -> list[CheckDefinition]:
    return [d for d in registry().values() if d.area == area]


def area_score(*, area: str, scan_id: int) -> AreaScore | None:
    """Return the area's score across accounts in one scan, from its score snapshots."""
    scores = scores_by_scan([scan_id]).get(scan_id)
    if scores is None:
        return None
    return next((a for a in scores.areas if a.area == area), None)


def area_checks(*, area: str, scans: list[TrendScan]) -> list[AreaCheckRow]:
    """Return the area's checks with their current counts and failing trend, worst first.

    Worst first means the most score weight lost (severity weight times failing accounts), then
    the most failing resources. Findings of a check no longer registered are left out: the next
    scan of their account marks them as no longer current.
    """
    definitions = area_definitions(area)
    rows = (
        Finding.objects.filter(is_current=True, area=area)
        .values("check_id")
        .annotate(
            **_status_counts(),
            accounts=Count("account_id", distinct=True),
            accounts_failing=Count("account_id", distinct=True, filter=Q(status=Status.FAIL)),
        )
        .order_by()
    )
    by_check = {row["check_id"]: row for row in rows}
    trends = failing_trends(check_ids=[d.id for d in definitions], scans=scans)

    checks = []
    for definition in definitions:
        row = by_check.get(definition.id)
        checks.append(
            AreaCheckRow(
                definition=definition,
                counts=_counts_of(row) if row else StatusCounts(),
                accounts=row["accounts"] if row else 0,
                accounts_failing=row["accounts_failing"] if row else 0,
                trend=trends[definition.id],
            )
        )
    checks.sort(
        key=lambda c: (-c.score_weight_lost, -c.counts.failing, -c.definition.weight, c.definition.id)
    )
    return checks


# Check page.
def scan_thresholds(*, scan_id: int, check_id: str) -> dict:
    """Return the thresholds a scan stored for one check, or {} when it stored none."""
    stored = Scan.objects.filter(pk=scan_id).values_list("thresholds", flat=True).first() or {}
    return stored.get(check_id, {})


def check_accounts(*, check_id: str) -> list[CheckAccountRow]:
    """Return every account with a current result of the check, most failing resources first."""
    rows = (
        Finding.objects.filter(is_current=True, check_id=check_id)
        .values("account_id", "account__name", "account__account_id", "account__environment")
        .annotate(**_status_counts(), last_seen_at=Max("last_seen_at"))
        .order_by("-failing", "-unknown", "account__name", "account_id")
    )
    return [
        CheckAccountRow(
            account_pk=row["account_id"],
            name=row["account__name"],
            account_id=row["account__account_id"],
            environment=row["account__environment"],
            counts=_counts_of(row),
            last_seen_at=row["last_seen_at"],
        )
        for row in rows
    ]


def check_failing(*, check_id: str, limit: int) -> list[Finding]:
    """Return the first `limit` current failing findings of the check, by account, region, resource."""
    return list(
        Finding.objects.filter(is_current=True, check_id=check_id, status=Status.FAIL)
        .select_related("account")
        .defer("evidence", "thresholds")
        .order_by("account__name", "account_id", "region", "resource_id")[:limit]
    )


# Check-account page.
_STATUS_RANK = Case(
    When(status=Status.FAIL, then=Value(0)),
    When(status=Status.UNKNOWN, then=Value(1)),
    When(status=Status.PASS, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def check_account_counts(*, check_id: str, account_pk: int) -> StatusCounts:
    row = Finding.objects.filter(is_current=True, check_id=check_id, account_id=account_pk).aggregate(
        **_status_counts()
    )
    return _counts_of(row)


def check_account_findings(*, check_id: str, account_pk: int, status: str = "") -> QuerySet[Finding]:
    """Return the account's current findings under the check: failing, unknown, passing, then N/A."""
    findings = Finding.objects.filter(is_current=True, check_id=check_id, account_id=account_pk).defer(
        "evidence", "thresholds"
    )
    if status:
        findings = findings.filter(status=status)
    return findings.order_by(_STATUS_RANK, "region", "resource_id", "id")
