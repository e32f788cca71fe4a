"""Reads of monitored accounts for the pages."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Account
from posture.models import AccountScan

RECENT_SCANS = 10


def _latest_first() -> QuerySet[AccountScan]:
    return AccountScan.objects.select_related("scan").order_by("-scan__scanned_at", "-scan_id")


def account_list() -> QuerySet[Account]:
    """Return every account, each with `latest_scans`: a list holding its latest AccountScan, if any.

    The latest scan comes from one sliced prefetch (a window function), so the list costs two
    queries whatever the number of accounts.
    """
    return Account.objects.prefetch_related(
        Prefetch("scans", queryset=_latest_first()[:1], to_attr="latest_scans")
    )


def account_get(*, pk: int) -> Account:
    """Return the account or raise Http404."""
    return get_object_or_404(Account, pk=pk)


def account_scan_list(*, account: Account, limit: int = RECENT_SCANS) -> list[AccountScan]:
    """Return the account's most recent account scans, newest first."""
    return list(_latest_first().filter(account=account)[:limit])
