"""Reads for the findings pages."""

from __future__ import annotations

from django.db.models import (
    Case,
    IntegerField,
    QuerySet,
    Value,
    When,
)

from posture.checks.base import Severity, Status
from posture.models import Finding, FindingEvent

# Findings.
_STATUS_RANK = Case(
    When(status=Status.FAIL, then=Value(0)),
    When(status=Status.UNKNOWN, then=Value(1)),
    When(status=Status.PASS, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
_SEVERITY_RANK = Case(
    When(severity=Severity.CRITICAL, then=Value(0)),
    When(severity=Severity.HIGH, then=Value(1)),
    When(severity=Severity.MEDIUM, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def finding_list(
    *,
    account_pk: int | None = None,
    area: str = "",
    check_id: str = "",
    severity: str = "",
    status: str = "",
    include_gone: bool = False,
) -> QuerySet[Finding]:
    """Return findings matching every given filter: failing first, then by severity, newest change first.

    By default only current findings: those whose resource the latest scan of the account listed.
    """
    findings = Finding.objects.select_related("account").defer("evidence", "thresholds")
    if not include_gone:
        findings = findings.filter(is_current=True)
    if account_pk is not None:
        findings = findings.filter(account_id=account_pk)
    if area:
        findings = findings.filter(area=area)
    if check_id:
        findings = findings.filter(check_id=check_id)
    if severity:
        findings = findings.filter(severity=severity)
    if status:
        findings = findings.filter(status=status)
    return findings.order_by(_STATUS_RANK, _SEVERITY_RANK, "-status_changed_at", "-id")


def finding_detail_queryset() -> QuerySet[Finding]:
    return Finding.objects.select_related("account", "last_scan")


def finding_events(*, finding: Finding) -> QuerySet[FindingEvent]:
    return finding.events.select_related("actor").order_by("created_at", "id")
