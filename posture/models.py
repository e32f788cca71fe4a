"""Scans, findings and their history, and the score snapshots the trend charts read.

Rows grow with changes, not with scans times resources: a `Finding` is the current state of one
resource under one check, a `FindingEvent` each change of it, and `ScoreSnapshot` / `CheckCount` one
row per scan and account (and area or check), written once when the scan ends.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from posture.checks.base import Area, Severity, Status

# The findings list orders current findings by these ranks, worst first (they are
# posture.selectors.findings.STATUS_RANK and SEVERITY_RANK). The "finding_current_rank" index
# serves that order only while both expressions stay identical to the selector's.
FINDING_STATUS_RANK = models.Case(
    models.When(status=Status.FAIL, then=models.Value(3)),
    models.When(status=Status.UNKNOWN, then=models.Value(2)),
    models.When(status=Status.PASS, then=models.Value(1)),
    default=models.Value(0),
    output_field=models.IntegerField(),
)
FINDING_SEVERITY_RANK = models.Case(
    models.When(severity=Severity.CRITICAL, then=models.Value(4)),
    models.When(severity=Severity.HIGH, then=models.Value(3)),
    models.When(severity=Severity.MEDIUM, then=models.Value(2)),
    models.When(severity=Severity.LOW, then=models.Value(1)),
    default=models.Value(0),
    output_field=models.IntegerField(),
)


class Scan(models.Model):
    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Started in the dashboard"
        CLI = "cli", "Command line"
        DEMO = "demo", "Demo"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    FINAL_STATES = (State.COMPLETED, State.PARTIAL, State.FAILED)

    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ruleset_version = models.CharField(max_length=40)
    # Effective thresholds per check id at the time the scan was created.
    thresholds = models.JSONField(default=dict)
    # The time the scan stands for. Equal to created_at, except in the demo, which dates its scans
    # in the past so its chart reads like weeks of use (and `note` states that).
    scanned_at = models.DateTimeField(db_index=True)
    note = models.CharField(max_length=200, blank=True)
    # False for a scan that left out some enabled account. Such a scan tells nothing of the others,
    # so the combined scores and trend of all accounts skip it. The views of its accounts include it.
    all_accounts = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-scanned_at", "-id"]

    def __str__(self) -> str:
        return f"Scan {self.pk} ({self.get_state_display()})"

    def get_absolute_url(self) -> str:
        return reverse("posture:scan-detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINAL_STATES


class AccountScan(models.Model):
    """One account within a scan: claimed by exactly one task run, with its own state and errors."""

    State = Scan.State

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="account_scans")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="scans")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    regions = models.JSONField(default=list)
    regions_done = models.PositiveIntegerField(default=0)
    checks_done = models.PositiveIntegerField(default=0)
    # A failure of the whole account (AssumeRole refused, regions not listable): code and message.
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    # Reads that failed within the account: [{"region", "key", "operation", "code", "message"}].
    errors = models.JSONField(default=list)
    # Results per status, for the scan page.
    counts = models.JSONField(default=dict)
    # Resources listed per region and inventory key ({"us-east-1": {"ec2.volumes": 12}}), so a
    # short listing can be distinguished from a check that judged little.
    listed = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "account"], name="account_scan_unique"),
        ]
        indexes = [models.Index(fields=["state", "started_at"])]
        ordering = ["account__name"]

    def __str__(self) -> str:
        return f"{self.account} in scan {self.scan_id}"

    @property
    def listed_total(self) -> int:
        return sum(sum(per_key.values()) for per_key in self.listed.values())

    def listed_rows(self) -> list[tuple[str, str, int]]:
        """(region, inventory key, items listed), sorted, for the scan page."""
        return sorted(
            (region, key, count) for region, per_key in self.listed.items() for key, count in per_key.items()
        )


class Finding(models.Model):
    """The current state of one resource under one check.

    Identity is (account, region, check id, resource id), the same whether the result passes or
    fails, so history and triage carry across scans.

    `status` is what the latest scan saw; `triage_state` is what people (and the scanner, when a
    result passes or fails again) decided about it. `exception` is the valid exception that covers
    the finding, kept current by the scans and by the exception services in triage/.
    """

    class TriageState(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        IN_PROGRESS = "in_progress", "In progress"
        RISK_ACCEPTED = "risk_accepted", "Risk accepted"
        FALSE_POSITIVE = "false_positive", "False positive"
        RESOLVED = "resolved", "Resolved"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="findings")
    region = models.CharField(max_length=30)
    check_id = models.CharField(max_length=80)
    resource_id = models.CharField(max_length=512)
    resource_type = models.CharField(max_length=60)
    # Copied from the check's metadata so filters and counts need no join with the registry.
    area = models.CharField(max_length=30, choices=Area.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    reason = models.TextField()
    evidence = models.JSONField(default=dict)
    thresholds = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()
    last_scan = models.ForeignKey(Scan, on_delete=models.SET_NULL, null=True, related_name="+")
    # False once a scan of the account no longer lists the resource (deleted or out of scope).
    is_current = models.BooleanField(default=True)
    # The resource's AWS tags ({key: value}), from the evidence's Tags or TagList when it has them.
    tags = models.JSONField(default=dict, blank=True)
    triage_state = models.CharField(
        max_length=20, choices=TriageState.choices, default=TriageState.OPEN, db_index=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_findings",
    )
    # Cleared with an event by the triage services before an exception is deleted; SET_NULL is
    # only the fallback for a deletion that bypasses them.
    exception = models.ForeignKey(
        "triage.FindingException",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="covered_findings",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "check_id", "resource_id"], name="finding_identity"
            ),
        ]
        indexes = [
            models.Index(fields=["is_current", "status", "severity"]),
            models.Index(fields=["status", "severity"]),
            models.Index(fields=["check_id", "status"]),
            models.Index(fields=["area", "status"]),
            models.Index(fields=["account", "status"]),
            # The pages read current findings only, so these indexes leave out the rest. The first
            # gives the findings list its default order without sorting every current finding. The
            # two covering ones let the area and check pages count by index-only scans.
            models.Index(
                FINDING_STATUS_RANK,
                FINDING_SEVERITY_RANK,
                models.F("id"),
                name="finding_current_rank",
                condition=models.Q(is_current=True),
            ),
            models.Index(
                fields=["area", "check_id", "status", "account"],
                include=["id"],
                name="finding_current_area",
                condition=models.Q(is_current=True),
            ),
            models.Index(
                fields=["check_id", "account", "status"],
                include=["id", "last_seen_at"],
                name="finding_current_check",
                condition=models.Q(is_current=True),
            ),
        ]
        ordering = ["-status_changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("posture:finding-detail", args=[self.pk])


class FindingEvent(models.Model):
    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        STATUS_CHANGED = "status_changed", "Status changed"
        GONE = "gone", "No longer listed"
        STATE_CHANGED = "state_changed", "Triage state changed"
        ASSIGNED = "assigned", "Assigned"
        COMMENTED = "commented", "Commented"
        EXCEPTION_APPLIED = "exception_applied", "Exception applied"
        EXCEPTION_EXPIRED = "exception_expired", "Exception expired"
        EXCEPTION_REMOVED = "exception_removed", "Exception removed"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events")
    scan = models.ForeignKey(Scan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    old_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    new_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    # The field that changed ("status", "triage_state", "assignee", "exception"), with its old and
    # new value as text such as a user name or an exception id. All three are empty for a comment.
    field = models.CharField(max_length=30, blank=True)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    # None for changes made by the scanner or the expiry task.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["scan", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.finding_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ScoreSnapshot(models.Model):
    """The score of one account in one area at the end of one scan. Written once, never recomputed.

    `numerator / denominator` is the headline score (a FAIL under a valid exception counts as
    passed); `raw_numerator / denominator` is the raw score. Both are weighted sums over the checks
    that decided something (see posture/scoring.py).
    """

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="snapshots")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="snapshots")
    area = models.CharField(max_length=30, choices=Area.choices)
    scanned_at = models.DateTimeField()
    ruleset_version = models.CharField(max_length=40)
    # Copied from the scan, so the trend of all accounts can skip scans of chosen accounts while
    # reading snapshots only.
    all_accounts = models.BooleanField(default=True)
    numerator = models.FloatField()
    raw_numerator = models.FloatField()
    denominator = models.FloatField()
    results_expected = models.PositiveIntegerField()
    results_decided = models.PositiveIntegerField()
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    not_applicable = models.PositiveIntegerField(default=0)
    # What the scores owe to exceptions that expire: [{"check_id", "expires_at" (ISO 8601),
    # "numerator", "raw_numerator", "denominator"}], each entry the change to this row's values once
    # every exception of that check expiring by then has lapsed (posture.scoring.exception_lapses).
    # The read path (posture/scores.py) applies the entries whose time has passed.
    exception_lapses = models.JSONField(default=list, blank=True)
    # The earliest expires_at in exception_lapses, so reads find the rows to adjust with one filter.
    exceptions_expire_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "account", "area"], name="snapshot_unique"),
        ]
        indexes = [
            models.Index(fields=["scanned_at", "area"]),
            # Covers the overview's list of scored scans, newest first, which reads the snapshots of
            # every scan (an index-only scan instead of reading the table).
            models.Index(
                fields=["scanned_at", "scan", "ruleset_version"],
                include=["results_decided"],
                name="snapshot_scored_scans",
            ),
        ]
        ordering = ["scanned_at", "area"]

    def __str__(self) -> str:
        return f"{self.area} of {self.account_id} in scan {self.scan_id}"


class CheckCount(models.Model):
    """Resources per status of one check in one account at the end of one scan."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="check_counts")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    check_id = models.CharField(max_length=80)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    not_applicable = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scan", "account", "check_id"], name="check_count_unique"),
        ]
        indexes = [
            models.Index(fields=["check_id", "scan"]),
            # Covers the failing-resources trends of the area and check pages (index-only scans).
            models.Index(
                fields=["check_id", "scan"], include=["account", "failed"], name="check_count_trend"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_id} of {self.account_id} in scan {self.scan_id}"
