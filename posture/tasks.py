"""Celery tasks: each takes ids and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from posture import services
from posture.models import Scan


@shared_task(
    acks_late=True,
    soft_time_limit=settings.SCAN_SOFT_TIME_LIMIT,
    time_limit=settings.SCAN_TIME_LIMIT,
)
def scan_account(account_scan_id: int) -> None:
    """Scan one account of a scan.

    Safe to rerun or to receive twice: the service claims the row with a conditional UPDATE, so a
    second delivery finds it claimed and returns without touching anything.
    """
    services.account_scan_run(account_scan_id=account_scan_id)


@shared_task
def scan_enabled_accounts() -> int | None:
    """Start a scan of every enabled account (the default daily schedule).

    A rerun starts another scan, which is harmless: scans are idempotent over findings.
    """
    try:
        scan = services.scan_start(trigger=Scan.Trigger.SCHEDULE)
    except services.NoAccountsToScan:
        return None
    return scan.pk


@shared_task
def reap_stuck_scans() -> int:
    """Mark account scans stuck past their limit as failed. Safe to rerun at any time."""
    return services.account_scans_reap()
