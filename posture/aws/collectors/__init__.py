"""Collectors: one per AWS service, each called once per account and region.

A collector is a function `collect(clients, inventory, *, account_id)` registered with
`@collector(...)`. It pages through every list call and stores what the checks need in the inventory
under dotted keys. Values are the AWS API's own response items (plain dicts with the API's field
names), sometimes enriched with the response of a per-resource call under an added key. A per-resource
call that failed is stored there as a `ReadError`. Each collector module's docstring lists the
keys it writes and their shapes.

Phases:
- `global`: account-wide services (IAM, the S3 bucket list), once per account, region "global";
- `regional`: once per enabled region, regions in parallel in a bounded thread pool;
- `account`: after the regional phase, with the whole `AccountData` in view (for example the
  details of the S3 buckets that trails in any region deliver to).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Literal

from posture.aws.collectors.base import paginate, read_error
from posture.aws.inventory import GLOBAL_REGION, AccountData, Inventory, ReadError
from posture.aws.session import ClientFactory

logger = logging.getLogger(__name__)

Phase = Literal["global", "regional", "account"]


@dataclass(frozen=True)
class Collector:
    name: str
    phase: Phase
    func: Callable[..., None]


_COLLECTORS: list[Collector] = []


def collector(*, name: str, phase: Phase) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(func: Callable[..., None]) -> Callable[..., None]:
        _COLLECTORS.append(Collector(name=name, phase=phase, func=func))
        return func

    return register


def collectors(phase: Phase) -> list[Collector]:
    from posture.aws.collectors import (  # noqa: F401 - importing registers the collectors
        cloudtrail,
        ec2,
        ec2_keys,
        elb,
        iam,
        rds,
        redshift,
        s3,
        vpc,
    )

    return [c for c in _COLLECTORS if c.phase == phase]


def enabled_regions(clients: ClientFactory, home_region: str) -> list[str]:
    """Regions enabled for the account (DescribeRegions without AllRegions lists only those)."""
    ec2 = clients.client("ec2", home_region)
    return sorted(r["RegionName"] for r in ec2.describe_regions().get("Regions", []))


def _run(collector_: Collector, clients: ClientFactory, inventory: Inventory, **kwargs) -> None:
    try:
        collector_.func(clients, inventory, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one broken collector must not stop the scan
        # Collectors catch their own AWS errors per key; reaching here is a bug or a surprise.
        error = read_error(f"collector {collector_.name}", exc)
        inventory.fail(f"collector.{collector_.name}", error)
        logger.exception("Collector %s failed in %s", collector_.name, inventory.region)


def collect_account(
    *,
    clients: ClientFactory,
    account_id: str,
    partition: str,
    regions: list[str],
    max_workers: int,
    on_region_done: Callable[[str], None] | None = None,
) -> AccountData:
    """Collect one account: global services once, then every region in `regions` in parallel."""
    global_inventory = Inventory(region=GLOBAL_REGION)
    inventories = {region: Inventory(region=region) for region in regions}

    def collect_global() -> None:
        for c in collectors("global"):
            _run(c, clients, global_inventory, account_id=account_id)

    def collect_region(region: str) -> str:
        for c in collectors("regional"):
            _run(c, clients, inventories[region], account_id=account_id)
        return region

    # The global services are collected beside the regions, not before them, because IAM of a large
    # account takes as long as a region. Progress is reported from the calling thread, so the
    # callback may use its database connection.
    with ThreadPoolExecutor(max_workers=max_workers + 1, thread_name_prefix="collect") as pool:
        global_done = pool.submit(collect_global)
        for future in as_completed([pool.submit(collect_region, r) for r in regions]):
            region = future.result()
            if on_region_done:
                on_region_done(region)
        global_done.result()

    data = AccountData(
        account_id=account_id, partition=partition, global_=global_inventory, regions=inventories
    )
    for c in collectors("account"):
        _run(c, clients, global_inventory, account_id=account_id, data=data)
    return data


__all__ = [
    "Collector",
    "ReadError",
    "collect_account",
    "collector",
    "collectors",
    "enabled_regions",
    "paginate",
]
