"""Reads for the scan pages."""

from __future__ import annotations

from django.db.models import (
    Count,
    Q,
    QuerySet,
)

from posture.models import AccountScan, Scan
from posture.selectors.overview import SCORED_STATES  # noqa: F401 - used by the scan page


# Scans.
def scan_list() -> QuerySet[Scan]:
    """Return scans newest first, each with counts of its accounts by state."""
    return (
        Scan.objects.select_related("requested_by")
        .annotate(
            account_count=Count("account_scans"),
            accounts_done=Count("account_scans", filter=Q(account_scans__state__in=Scan.FINAL_STATES)),
            accounts_failed=Count("account_scans", filter=Q(account_scans__state=Scan.State.FAILED)),
        )
        .order_by("-scanned_at", "-id")
    )


def scan_detail_queryset() -> QuerySet[Scan]:
    return Scan.objects.select_related("requested_by")


def scan_account_scans(*, scan: Scan) -> QuerySet[AccountScan]:
    return scan.account_scans.select_related("account").order_by("account__name", "account__account_id")
