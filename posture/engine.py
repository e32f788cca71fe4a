"""Collect one account through its role and judge it: the AWS half of an account scan.

Nothing here touches the database; `posture.services` stores what this returns.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from posture.aws.collectors import collect_account, enabled_regions
from posture.aws.collectors.base import read_error
from posture.aws.inventory import AccountData, ReadError
from posture.aws.session import ClientFactory, assume_role_session
from posture.checks.base import Result
from posture.checks.runner import run_checks

logger = logging.getLogger(__name__)


class AccountUnreachable(Exception):
    """The account could not be scanned at all (AssumeRole refused, regions not listable)."""

    def __init__(self, error: ReadError) -> None:
        super().__init__(error.describe())
        self.error = error


@dataclass
class AccountOutcome:
    regions: list[str]
    skipped_regions: list[str]
    results: list[Result]
    errors: list[dict[str, str]] = field(default_factory=list)
    listed: dict[str, dict[str, int]] = field(default_factory=dict)


def select_regions(configured: list[str], enabled: list[str]) -> tuple[list[str], list[str]]:
    """Return (regions to scan, configured regions skipped because they are not enabled)."""
    if not configured:
        return list(enabled), []
    enabled_set = set(enabled)
    return (
        [r for r in configured if r in enabled_set],
        [r for r in configured if r not in enabled_set],
    )


def _read_errors(data: AccountData) -> list[dict[str, str]]:
    errors = []
    for inventory in [data.global_, *data.regions.values()]:
        for key, error in inventory.errors():
            errors.append({"region": inventory.region, "key": key, **error.as_dict()})
    return errors


def account_scan(
    *,
    account_id: str,
    role_arn: str,
    external_id: str,
    partition: str,
    configured_regions: list[str],
    thresholds: dict[str, dict[str, Any]],
    now: dt.datetime,
    on_regions: Callable[[list[str]], None] | None = None,
    on_region_done: Callable[[str], None] | None = None,
) -> AccountOutcome:
    """Assume the account's role, collect every enabled region and run every check.

    Raises AccountUnreachable when the role cannot be assumed or the regions cannot be listed;
    any narrower failure becomes UNKNOWN results and an entry in `errors`.
    """
    session = assume_role_session(role_arn=role_arn, external_id=external_id)
    clients = ClientFactory(session)
    home_region = configured_regions[0] if configured_regions else settings.AWS_STS_REGION
    try:
        enabled = enabled_regions(clients, home_region)
    except Exception as exc:  # noqa: BLE001 - AssumeRole failures surface on this first call
        raise AccountUnreachable(read_error("AssumeRole/DescribeRegions", exc)) from exc

    regions, skipped = select_regions(configured_regions, enabled)
    if skipped:
        logger.info("Account %s: skipping regions not enabled: %s", account_id, ", ".join(skipped))
    if on_regions:
        on_regions(regions)

    data = collect_account(
        clients=clients,
        account_id=account_id,
        partition=partition,
        regions=regions,
        max_workers=settings.SCAN_REGION_WORKERS,
        on_region_done=on_region_done,
    )
    results = run_checks(data, thresholds=thresholds, now=now)
    return AccountOutcome(
        regions=regions,
        skipped_regions=skipped,
        results=results,
        errors=_read_errors(data),
        listed={inv.region: dict(inv.listed) for inv in [data.global_, *data.regions.values()]},
    )
