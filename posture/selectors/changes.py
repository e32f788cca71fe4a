"""Reads for the changes page: how findings changed between two finished scans.

The range of a comparison is every scan after scan A (the older one) up to and including scan B,
in the order of `Scan.Meta.ordering` (scanned_at, then id). Only findings with a status event in
that range can differ between A and B, so the classification reads those events and nothing older.

A finding's status at a scan is the new status of its last status event at or before that scan.
Within the range this needs no look-back, because `findings_sync` writes every status event with
the status it replaced. So the old status of a finding's first event after A is its status at A,
and it is "" for an `opened` event (the finding did not exist at A). The new status of its last
event in the range is its status at B. Each finding then gets one net change:

- new: first seen after A, failing at B;
- reopened: seen by A, failing at B, and either not failing at A (passing, not applicable or
  unknown) or passing or not applicable at some scan of the range;
- resolved: failing at A, passing or not applicable at B;
- fixed within the range: not failing at A (or first seen after A), failing at some scan of the
  range, and passing or not applicable at B. Counted apart, because such a finding is neither new
  nor open at B, yet someone may want to know it failed for a while.

Every other finding is left out, for example one failing at A and B that was only UNKNOWN in
between, or one failing at A and UNKNOWN at B (nothing is known about it at B).

NOTE: a resource that a scan no longer lists keeps its last status and gets a `gone` event, which
is not a status event. A failing resource deleted within the range is therefore not counted as
resolved here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import (
    Count,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
    Window,
)
from django.db.models.functions import RowNumber

from posture.checks.base import Severity, Status, registry
from posture.models import AccountScan, Finding, FindingEvent, Scan

# Findings listed per kind of change. The rest are only counted.
ROWS_PER_KIND = 500
# Scans offered in each select of the page. A scan given in the URL is offered even when older.
SCAN_OPTIONS_MAX = 400
# Account names shown in the label of a scan of chosen accounts, before "and N more".
ACCOUNT_NAMES_IN_LABEL = 3
# Event kinds that change a finding's status (`gone` does not: the status stays as it was).
STATUS_EVENT_KINDS = (
    FindingEvent.Kind.OPENED,
    FindingEvent.Kind.RESOLVED,
    FindingEvent.Kind.REOPENED,
    FindingEvent.Kind.STATUS_CHANGED,
)
SETTLED_STATUSES = (Status.PASS, Status.NOT_APPLICABLE)


class ChangeKind(TextChoices):
    NEW = "new", "New failing"
    REOPENED = "reopened", "Reopened"
    RESOLVED = "resolved", "Resolved"
    FIXED_WITHIN = "fixed_within", "Failed and fixed within the range"


# The findings list shows what fails or passes now, which matches a kind when B is the latest scan.
KIND_STATUS_NOW = {
    ChangeKind.NEW: Status.FAIL,
    ChangeKind.REOPENED: Status.FAIL,
    ChangeKind.RESOLVED: Status.PASS,
    ChangeKind.FIXED_WITHIN: Status.PASS,
}


# Finished scans and their place in the order.
def _after(scan: Scan) -> Q:
    """Match the scans that come after `scan` in the order of scanned_at, then id."""
    return Q(scanned_at__gt=scan.scanned_at) | Q(scanned_at=scan.scanned_at, pk__gt=scan.pk)


def _before(scan: Scan) -> Q:
    return Q(scanned_at__lt=scan.scanned_at) | Q(scanned_at=scan.scanned_at, pk__lt=scan.pk)


def scan_is_after(scan: Scan, other: Scan) -> bool:
    """Return whether `scan` comes after `other` in the order of scanned_at, then id."""
    return (scan.scanned_at, scan.pk) > (other.scanned_at, other.pk)


def finished_scans() -> QuerySet[Scan]:
    """Return the completed, partial and failed scans, newest first."""
    return Scan.objects.filter(state__in=Scan.FINAL_STATES).order_by("-scanned_at", "-id")


def scan_latest_finished() -> Scan | None:
    return finished_scans().first()


def scan_previous_finished(*, scan: Scan) -> Scan | None:
    """Return the newest finished scan before `scan`, or None when `scan` is the first."""
    return finished_scans().filter(_before(scan)).first()


@dataclass(frozen=True)
class ScanOption:
    """A finished scan as the selects of the page offer it."""

    pk: int
    scanned_at: dt.datetime
    state_label: str
    all_accounts: bool
    # Names of the scanned accounts, sorted. Empty for a scan of all accounts.
    account_names: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Describe the scan, such as "2025-01-31 14:00 UTC · scan 12 · all accounts"."""
        if self.all_accounts:
            scope = "all accounts"
        else:
            names = self.account_names[:ACCOUNT_NAMES_IN_LABEL]
            scope = f"account{'s' if len(self.account_names) != 1 else ''} {', '.join(names)}"
            if len(self.account_names) > len(names):
                scope += f" and {len(self.account_names) - len(names)} more"
        state = "" if self.state_label == Scan.State.COMPLETED.label else f" · {self.state_label.lower()}"
        return f"{self.scanned_at:%Y-%m-%d %H:%M} UTC · scan {self.pk} · {scope}{state}"


def scan_options(*, include: tuple[Scan, ...] = (), limit: int = SCAN_OPTIONS_MAX) -> list[ScanOption]:
    """Return the latest `limit` finished scans and the finished scans of `include`, newest first.

    Two queries: the scans, and the account names of the scans that left out some account.
    """
    latest = list(finished_scans()[:limit])
    known = {scan.pk for scan in latest}
    scans = latest + [scan for scan in include if scan.is_finished and scan.pk not in known]
    scans.sort(key=lambda scan: (scan.scanned_at, scan.pk), reverse=True)

    names: dict[int, list[str]] = {}
    partial_scope = [scan.pk for scan in scans if not scan.all_accounts]
    if partial_scope:
        rows = (
            AccountScan.objects.filter(scan_id__in=partial_scope)
            .order_by("account__name")
            .values_list("scan_id", "account__name")
        )
        for scan_id, name in rows:
            names.setdefault(scan_id, []).append(name)
    return [
        ScanOption(
            pk=scan.pk,
            scanned_at=scan.scanned_at,
            state_label=scan.get_state_display(),
            all_accounts=scan.all_accounts,
            account_names=tuple(names.get(scan.pk, ())),
        )
        for scan in scans
    ]


# Net changes between two scans.
@dataclass(frozen=True)
class ChangeRow:
    finding_pk: int
    check_id: str
    # The check's title, or its id when this version no longer has the check.
    check_title: str
    resource_id: str
    region: str
    severity: str
    account_name: str
    account_id: str
    # When the finding's last status change in the range was scanned.
    changed_at: dt.datetime


@dataclass
class ChangeGroup:
    """The findings of one kind of net change: the first rows, the count and the count per severity."""

    kind: ChangeKind
    count: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    rows: list[ChangeRow] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.kind.label

    @property
    def status_now(self) -> str:
        return KIND_STATUS_NOW[self.kind]

    @property
    def capped(self) -> bool:
        return self.count > len(self.rows)

    def severity_counts(self) -> list[int]:
        """Return the count of each severity, most severe first, in the order of `Severity`."""
        return [self.by_severity.get(severity, 0) for severity in Severity]


@dataclass(frozen=True)
class ScanChanges:
    from_scan: Scan
    to_scan: Scan
    groups: list[ChangeGroup]

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)


def _range_events(
    *,
    from_scan: Scan,
    to_scan: Scan,
    account_pk: int | None,
    environment: str,
    area: str,
    severity: str,
) -> QuerySet:
    """Return the status events of the range on findings that match the filters.

    Each row is numbered within its finding, oldest first, next to the finding's number of events
    in the range, so the first and the last event of each finding can be picked out.
    """
    range_scans = Scan.objects.filter(_after(from_scan)).filter(~_after(to_scan)).values("pk")
    events = FindingEvent.objects.filter(kind__in=STATUS_EVENT_KINDS, scan_id__in=range_scans)
    exact = {
        "finding__account_id": account_pk,
        "finding__account__environment": environment or None,
        "finding__area": area or None,
        "finding__severity": severity or None,
    }
    events = events.filter(**{name: value for name, value in exact.items() if value is not None})
    # _changes_sql names these columns by position, so keep this order: the model fields first,
    # then the annotations.
    return (
        events.order_by()
        .annotate(
            event_number=Window(
                RowNumber(), partition_by=[F("finding_id")], order_by=[F("created_at").asc(), F("id").asc()]
            ),
            event_count=Window(Count("id"), partition_by=[F("finding_id")]),
        )
        .values("finding_id", "old_status", "new_status", "created_at", "event_number", "event_count")
    )


def _literal(value: str) -> str:
    """Quote one of the code's own choice values (never user input) as an SQL string literal."""
    if not re.fullmatch(r"[A-Za-z_]+", value):
        raise ValueError(f"{value!r} is not a plain choice value")
    return f"'{value}'"


def _literals(values) -> str:
    return ", ".join(_literal(value) for value in values)


def _changes_sql(events_sql: str) -> str:
    """Return the query of the first rows of each kind of change, and of the counts per severity.

    `net` contains one row per finding of the range with its status at A (`status_from`, "" when
    first seen after A) and at B (`status_to`), and `changes` its kind of change (NULL for none).
    Each result row is a (kind, severity rank, finding id, row number in its kind, count of its
    kind and severity). Rows past the cap of their kind are returned only as the first row of
    their severity, so that every count arrives, and one query serves both.
    """
    fail, settled = _literal(Status.FAIL), _literals(SETTLED_STATUSES)
    severity_rank = " ".join(
        f"WHEN {_literal(severity)} THEN {rank}" for rank, severity in enumerate(Severity)
    )
    finding_table = Finding._meta.db_table  # noqa: SLF001 - Django's documented model metadata API
    # Only the ORM's compiled SQL, the model's table name and checked literals go into the text.
    # The ORM's values and the cap are parameters.
    return f"""
WITH range_events (finding_id, old_status, new_status, created_at, event_number, event_count) AS (
    {events_sql}
),
net AS (
    SELECT
        finding_id,
        MAX(CASE WHEN event_number = 1 THEN old_status END) AS status_from,
        MAX(CASE WHEN event_number = event_count THEN new_status END) AS status_to,
        MAX(CASE WHEN new_status = {fail} THEN 1 ELSE 0 END) AS failed_within,
        MAX(CASE WHEN new_status IN ({settled}) THEN 1 ELSE 0 END) AS passed_within,
        MAX(created_at) AS changed_at
    FROM range_events
    GROUP BY finding_id
),
changes AS (
    SELECT
        finding_id,
        changed_at,
        CASE
            WHEN status_to = {fail} AND status_from = '' THEN {_literal(ChangeKind.NEW)}
            WHEN status_to = {fail} AND (status_from <> {fail} OR passed_within = 1)
                THEN {_literal(ChangeKind.REOPENED)}
            WHEN status_from = {fail} AND status_to IN ({settled}) THEN {_literal(ChangeKind.RESOLVED)}
            WHEN status_to IN ({settled}) AND failed_within = 1 THEN {_literal(ChangeKind.FIXED_WITHIN)}
        END AS kind
    FROM net
),
ranked AS (
    SELECT
        changes.kind,
        changes.finding_id,
        changes.changed_at,
        CASE finding.severity {severity_rank} ELSE {len(Severity)} END AS severity_rank
    FROM changes
    JOIN {finding_table} finding ON finding.id = changes.finding_id
    WHERE changes.kind IS NOT NULL
)
SELECT kind, severity_rank, finding_id, kind_row, severity_count FROM (
    SELECT
        kind,
        severity_rank,
        finding_id,
        ROW_NUMBER() OVER (
            PARTITION BY kind ORDER BY severity_rank, changed_at DESC, finding_id
        ) AS kind_row,
        ROW_NUMBER() OVER (PARTITION BY kind, severity_rank ORDER BY finding_id) AS severity_row,
        COUNT(*) OVER (PARTITION BY kind, severity_rank) AS severity_count
    FROM ranked
) numbered
WHERE kind_row <= %s OR severity_row = 1
ORDER BY kind, kind_row
"""  # noqa: S608


def scan_changes(
    *,
    from_scan: Scan,
    to_scan: Scan,
    account_pk: int | None = None,
    environment: str = "",
    area: str = "",
    severity: str = "",
    limit: int = ROWS_PER_KIND,
) -> ScanChanges:
    """Classify the findings whose status changed after `from_scan` up to `to_scan` by net change.

    See the module docstring for the kinds. `from_scan` must come before `to_scan`. The filters
    match the finding's account (primary key), the account's environment, and the finding's area
    and severity. Two queries whatever the number of findings: the counts and the first `limit`
    findings of each kind, aggregated in the database, then those findings' details.

    NOTE: the first query reads and sorts every status event of the range, so it costs seconds
    when a range of many scans contains hundreds of thousands of events.
    """
    events = _range_events(
        from_scan=from_scan,
        to_scan=to_scan,
        account_pk=account_pk,
        environment=environment,
        area=area,
        severity=severity,
    )
    connection = connections[events.db]
    events_sql, events_params = events.query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(_changes_sql(events_sql), [*events_params, limit])
        rows = cursor.fetchall()

    groups = {kind: ChangeGroup(kind=kind) for kind in ChangeKind}
    severities = list(Severity)
    listed: list[tuple[ChangeGroup, int]] = []
    for kind, rank, finding_id, kind_row, severity_count in rows:
        group = groups[ChangeKind(kind)]
        # Every row of one kind and severity carries the same count, so only the first adds it.
        # A severity value outside `Severity` is counted under "".
        severity_key = severities[rank].value if rank < len(severities) else ""
        if severity_key not in group.by_severity:
            group.by_severity[severity_key] = severity_count
            group.count += severity_count
        if kind_row <= limit:
            listed.append((group, finding_id))

    details = _finding_details([finding_id for _, finding_id in listed], from_scan=from_scan, to_scan=to_scan)
    for group, finding_id in listed:
        group.rows.append(details[finding_id])
    return ScanChanges(from_scan=from_scan, to_scan=to_scan, groups=list(groups.values()))


def _finding_details(finding_ids: list[int], *, from_scan: Scan, to_scan: Scan) -> dict[int, ChangeRow]:
    """Return the listed findings by primary key, each with the time of its last change in the range."""
    # Events are dated with their scan's scanned_at, so the range is a range of event times,
    # which the index on finding_id narrows to this finding's few events first.
    in_range = (
        Q(created_at__gt=from_scan.scanned_at) | Q(created_at=from_scan.scanned_at, scan_id__gt=from_scan.pk)
    ) & (Q(created_at__lt=to_scan.scanned_at) | Q(created_at=to_scan.scanned_at, scan_id__lte=to_scan.pk))
    last_change = (
        FindingEvent.objects.filter(in_range, finding_id=OuterRef("pk"), kind__in=STATUS_EVENT_KINDS)
        .order_by()
        .values("finding_id")
        .annotate(last=Max("created_at"))
        .values("last")
    )
    rows = (
        Finding.objects.filter(pk__in=finding_ids)
        .annotate(changed_at=Subquery(last_change))
        .values(
            "pk",
            "check_id",
            "resource_id",
            "region",
            "severity",
            "account__name",
            "account__account_id",
            "changed_at",
        )
    )
    definitions = registry()
    details = {}
    for row in rows:
        definition = definitions.get(row["check_id"])
        details[row["pk"]] = ChangeRow(
            finding_pk=row["pk"],
            check_id=row["check_id"],
            check_title=definition.title if definition else row["check_id"],
            resource_id=row["resource_id"],
            region=row["region"],
            severity=row["severity"],
            account_name=row["account__name"],
            account_id=row["account__account_id"],
            changed_at=row["changed_at"],
        )
    return details
