"""Reads for the overview's remediation section: how long findings have failed, and how fast they are fixed.

Both reads follow the status of findings as the scans record it:

- A failing finding has failed since the last scan that set its status to FAIL, which is its
  `status_changed_at` and the time of its last `opened` or `reopened` event.
- A remediation is a scan's status event from FAIL to PASS (a `resolved` event) or to
  NOT_APPLICABLE (a `status_changed` event). Its failure started at the finding's previous status
  event, the one that set FAIL.

NOTE: an UNKNOWN result (the scan could not judge the resource) ends a failure without a
remediation, so a FAIL, UNKNOWN, FAIL sequence ages from the second FAIL, and FAIL, UNKNOWN, PASS
counts no remediation.

The ages are one grouped query over the failing findings: a count per severity, area and start
time, so its rows grow with scans and not with findings. The times to remediate pair each
remediation with the event before it by a window function over the status events of the remediated
findings. At 100,000 findings and 536,000 events that query reads about a fifth of the events and
takes several hundred milliseconds on PostgreSQL (docs/benchmarks.md), so its result is cached
until the next status event or the next UTC day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from posture.checks.base import Area, Severity, Status
from posture.models import Finding, FindingEvent
from triage.models import FindingException

# Age buckets in whole days since the failure started (rounded down): (first day, last day).
AGE_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 7), (8, 30), (31, 90), (91, None))
# Remediations since the start of the UTC day this many days ago count in the mean time to remediate.
MTTR_WINDOW_DAYS = 90
# The cache key changes with every status event and every UTC day, so the timeout only frees memory.
MTTR_CACHE_SECONDS = 24 * 60 * 60

SEVERITY = "severity"
AREA = "area"

_MTTR_SQL = """
WITH remediations AS (
    SELECT r.id, r.finding_id
    FROM posture_findingevent r
    JOIN posture_finding f ON f.id = r.finding_id
    WHERE r.field = 'status'
      AND r.old_status = %(fail)s
      AND r.new_status IN (%(pass)s, %(not_applicable)s)
      AND r.created_at >= %(since)s
      {account_filter}
),
status_events AS (
    SELECT e.id, e.created_at,
           LAG(e.created_at) OVER (PARTITION BY e.finding_id ORDER BY e.created_at, e.id) AS failing_since
    FROM posture_findingevent e
    WHERE e.field = 'status' AND e.finding_id IN (SELECT finding_id FROM remediations)
)
SELECT f.severity, f.area, COUNT(*), SUM({days})
FROM remediations r
JOIN status_events t ON t.id = r.id
JOIN posture_finding f ON f.id = r.finding_id
WHERE t.failing_since IS NOT NULL
GROUP BY f.severity, f.area
"""

# Days from t.failing_since to t.created_at, as a float, per database vendor.
_DAYS_BETWEEN = {
    "postgresql": "EXTRACT(EPOCH FROM (t.created_at - t.failing_since)) / 86400.0",
    "sqlite": "julianday(t.created_at) - julianday(t.failing_since)",
}


@dataclass(frozen=True)
class AgeStats:
    """Currently failing findings by how long they have failed, in whole days."""

    buckets: tuple[int, ...] = (0,) * len(AGE_BUCKETS)
    median_days: float | None = None
    oldest_days: int | None = None

    @property
    def failing(self) -> int:
        return sum(self.buckets)


@dataclass(frozen=True)
class RemediationStats:
    """Failures remediated in the window: how many, and the mean days from start to remediation."""

    count: int = 0
    total_days: float = 0.0

    @property
    def mean_days(self) -> float | None:
        return self.total_days / self.count if self.count else None


@dataclass(frozen=True)
class RemediationRow:
    """One severity or area of the remediation tables."""

    key: str
    label: str
    ages: AgeStats
    remediated: RemediationStats


@dataclass(frozen=True)
class RemediationSummary:
    by_severity: list[RemediationRow]
    by_area: list[RemediationRow]
    window_days: int


def age_bucket_labels() -> list[str]:
    """Return the column headings of the age buckets, such as "8–30 days"."""
    return [
        f"{first}–{last} days" if last is not None else f"over {first - 1} days"
        for first, last in AGE_BUCKETS
    ]


def finding_ages(
    *, accounts: list[int] | None = None, now: dt.datetime | None = None
) -> dict[tuple[str, str], AgeStats]:
    """Return the ages of the failing findings, keyed by ("severity", value) and ("area", value).

    Counts current findings whose status is FAIL, except those under an exception valid at `now`
    (approved, enabled and not expired), in whole days since their failure started. With
    `accounts` (account primary keys), only their findings count. A severity or area without a
    failing finding has no entry. One query.
    """
    now = now or timezone.now()
    valid = FindingException.objects.valid(now)
    findings = Finding.objects.filter(is_current=True, status=Status.FAIL).exclude(exception__in=valid)
    if accounts is not None:
        findings = findings.filter(account_id__in=accounts)
    # Findings of one scan share their start time, so there is a row per group and scan.
    histogram: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for severity, area, since, count in (
        findings.values_list("severity", "area", "status_changed_at").annotate(count=Count("pk")).order_by()
    ):
        age = _age_days(now, since)
        histogram[(SEVERITY, severity)][age] += count
        histogram[(AREA, area)][age] += count
    return {key: _age_stats(counts) for key, counts in histogram.items()}


def remediation_times(
    *, accounts: list[int] | None = None, now: dt.datetime | None = None, window_days: int = MTTR_WINDOW_DAYS
) -> dict[tuple[str, str], RemediationStats]:
    """Return the failures remediated since the start of the UTC day `window_days` days before `now`.

    Keyed as `finding_ages` keys them. Findings no longer listed by the scans count too, because
    their remediations happened. With `accounts` (account primary keys), only their findings
    count. One query, grouped by severity and area in the database, and not run again while the
    status events and the day are the same (one more query reads the latest status event).
    """
    now = now or timezone.now()
    if accounts is not None and not accounts:
        return {}
    since = (now - dt.timedelta(days=window_days)).astimezone(dt.UTC)
    since = since.replace(hour=0, minute=0, second=0, microsecond=0)
    latest_event = (
        FindingEvent.objects.filter(field="status").order_by("-id").values_list("id", flat=True).first()
    )
    if latest_event is None:
        return {}
    scope = (
        "all"
        if accounts is None
        else hashlib.sha256(",".join(map(str, sorted(accounts))).encode()).hexdigest()
    )
    key = f"posture:remediation-times:{since:%Y-%m-%d}:{latest_event}:{scope}"
    return cache.get_or_set(
        key, lambda: _remediation_times_read(accounts=accounts, since=since), MTTR_CACHE_SECONDS
    )


def _remediation_times_read(
    *, accounts: list[int] | None, since: dt.datetime
) -> dict[tuple[str, str], RemediationStats]:
    account_filter, params = _account_filter(accounts)
    params |= {
        "fail": Status.FAIL.value,
        "pass": Status.PASS.value,
        "not_applicable": Status.NOT_APPLICABLE.value,
        "since": connection.ops.adapt_datetimefield_value(since),
    }
    sql = _MTTR_SQL.format(account_filter=account_filter, days=_DAYS_BETWEEN[connection.vendor])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    counts: dict[tuple[str, str], int] = defaultdict(int)
    days: dict[tuple[str, str], float] = defaultdict(float)
    for severity, area, count, total_days in rows:
        for key in ((SEVERITY, severity), (AREA, area)):
            counts[key] += count
            days[key] += float(total_days or 0.0)
    return {key: RemediationStats(count=counts[key], total_days=days[key]) for key in counts}


def remediation_summary(
    *, accounts: list[int] | None = None, now: dt.datetime | None = None
) -> RemediationSummary:
    """Return a row per severity (critical first) and per area, with ages and remediations.

    Three queries, or two while the times to remediate are cached.
    """
    now = now or timezone.now()
    ages = finding_ages(accounts=accounts, now=now)
    times = remediation_times(accounts=accounts, now=now)

    def row(grouping: str, key: str, label: str) -> RemediationRow:
        return RemediationRow(
            key=key,
            label=label,
            ages=ages.get((grouping, key), AgeStats()),
            remediated=times.get((grouping, key), RemediationStats()),
        )

    return RemediationSummary(
        by_severity=[row(SEVERITY, severity.value, severity.label) for severity in Severity],
        by_area=[row(AREA, area.value, area.label) for area in Area],
        window_days=MTTR_WINDOW_DAYS,
    )


def _account_filter(accounts: list[int] | None) -> tuple[str, dict]:
    """Return the SQL condition on `f.account_id` for `accounts` (none for None), and its parameters."""
    if accounts is None:
        return "", {}
    params = {f"account_{index}": pk for index, pk in enumerate(accounts)}
    placeholders = ", ".join(f"%({name})s" for name in params)
    return f"AND f.account_id IN ({placeholders})", params


def _age_days(now: dt.datetime, since: dt.datetime) -> int:
    """Return the whole days from `since` to `now`, rounded down; 0 for a time after `now`."""
    return max(0, math.floor((now - since) / dt.timedelta(days=1)))


def _age_stats(counts: dict[int, int]) -> AgeStats:
    """Return the buckets, median and oldest of a histogram {age in whole days: findings}."""
    buckets = [0] * len(AGE_BUCKETS)
    for age, count in counts.items():
        index = next(i for i, (_, last) in enumerate(AGE_BUCKETS) if last is None or age <= last)
        buckets[index] += count
    ages = sorted(counts)
    total = sum(counts.values())
    # The median of `total` ages is the mean of the ages at the two middle positions (equal when odd).
    middle = [_age_at(ages, counts, (total - 1) // 2), _age_at(ages, counts, total // 2)]
    return AgeStats(buckets=tuple(buckets), median_days=sum(middle) / 2, oldest_days=ages[-1])


def _age_at(ages: list[int], counts: dict[int, int], position: int) -> int:
    """Return the age at 0-based `position` of the ages in ascending order, expanded by their counts."""
    seen = 0
    for age in ages:
        seen += counts[age]
        if position < seen:
            return age
    raise IndexError(position)
