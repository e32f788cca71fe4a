"""Reads for the scan pages: the scan list, the start form and one scan's progress and errors."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, Min, Q, QuerySet, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import RowNumber

from accounts.models import Account
from posture.checks.base import Status, registry
from posture.models import AccountScan, Finding, Scan
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


def scan_start_accounts() -> QuerySet[Account]:
    """Return the accounts a scan may be started for: the enabled ones, by name."""
    return Account.objects.enabled().order_by("name", "account_id").only("pk", "account_id", "name")


# The UNKNOWN results of one scan.
@dataclass(frozen=True)
class UnknownGroup:
    """UNKNOWN results of one check in one region of one account with the same error and reason.

    A read that failed for a whole region gives one result. A read that failed per resource gives
    one per resource, so `resource_id` is the first of the group's resources in sort order.
    """

    check_id: str
    # The check's title, or its id when this version no longer has the check.
    check_title: str
    region: str
    error_code: str
    resources: int
    resource_id: str
    reason: str


@dataclass
class AccountUnknowns:
    groups: list[UnknownGroup]
    # Groups of the account, including those past the cap.
    total_groups: int

    @property
    def capped(self) -> bool:
        return self.total_groups > len(self.groups)


def scan_unknown_results(*, scan: Scan, per_account: int) -> dict[int, AccountUnknowns]:
    """Return the UNKNOWN results that `scan` was the last to judge, by account primary key.

    Results are grouped by check, region, AWS error code (`evidence.error.code`, empty when the
    check recorded no AWS error) and reason. Each account keeps its first `per_account` groups in
    order of check id and region. One query, whatever the number of findings.

    A finding that a later scan judged again points at that scan, so an older scan shows only the
    UNKNOWN results that no scan has judged since.
    """
    error_code = KeyTextTransform("code", KeyTextTransform("error", "evidence"))
    group_order = [F("check_id").asc(), F("region").asc(), F("error_code").asc(), F("reason").asc()]
    rows = (
        Finding.objects.filter(last_scan=scan, status=Status.UNKNOWN)
        .annotate(error_code=error_code)
        .values("account_id", "check_id", "region", "error_code", "reason")
        .annotate(resources=Count("id"), first_resource_id=Min("resource_id"))
        .annotate(
            position=Window(RowNumber(), partition_by=[F("account_id")], order_by=group_order),
            total_groups=Window(Count("*"), partition_by=[F("account_id")]),
        )
        .filter(position__lte=per_account)
        .order_by("account_id", "check_id", "region", "error_code", "reason")
    )
    definitions = registry()
    by_account: dict[int, AccountUnknowns] = defaultdict(lambda: AccountUnknowns(groups=[], total_groups=0))
    for row in rows:
        definition = definitions.get(row["check_id"])
        unknowns = by_account[row["account_id"]]
        unknowns.total_groups = row["total_groups"]
        unknowns.groups.append(
            UnknownGroup(
                check_id=row["check_id"],
                check_title=definition.title if definition else row["check_id"],
                region=row["region"],
                error_code=row["error_code"] or "",
                resources=row["resources"],
                resource_id=row["first_resource_id"],
                reason=row["reason"],
            )
        )
    return dict(by_account)


# One scan's accounts, with their progress and errors.
@dataclass(frozen=True)
class AccountProgress:
    account_scan: AccountScan
    # None when the scan left no UNKNOWN result for the account.
    unknowns: AccountUnknowns | None

    @property
    def in_progress(self) -> bool:
        return self.account_scan.state in (AccountScan.State.QUEUED, AccountScan.State.RUNNING)

    @property
    def error_count(self) -> int:
        """Failures recorded so far: the account-level error, or else the failed reads."""
        if self.account_scan.error_code:
            return 1
        return len(self.account_scan.errors)

    @property
    def unknowns_judged_later(self) -> int:
        """Count the account's UNKNOWN results whose finding a later scan has judged again.

        Their details now belong to that later scan. Returns 0 when the list is capped, because
        the count of the results left out is not read.
        """
        reported = self.account_scan.counts.get(Status.UNKNOWN, 0)
        if self.unknowns is None:
            return reported
        if self.unknowns.capped:
            return 0
        return max(reported - sum(group.resources for group in self.unknowns.groups), 0)

    @property
    def has_errors(self) -> bool:
        return bool(self.error_count or self.unknowns or self.unknowns_judged_later)


def scan_progress(*, scan: Scan, unknowns_per_account: int) -> list[AccountProgress]:
    """Return the scan's accounts by name with their UNKNOWN results (two queries)."""
    unknowns = scan_unknown_results(scan=scan, per_account=unknowns_per_account)
    return [
        AccountProgress(account_scan=account_scan, unknowns=unknowns.get(account_scan.account_id))
        for account_scan in scan_account_scans(scan=scan)
    ]
