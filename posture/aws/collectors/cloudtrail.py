"""CloudTrail trails with their logging status and event selectors.

Regional collector, once per enabled region, writes:

- `cloudtrail.trails`: list of DescribeTrails items read with includeShadowTrails=True, so the list also
  contains multi-region trails homed in other regions and organization trails of the management account.
  A trail whose `HomeRegion` is this region carries two added keys, so each trail is read once per
  account and not once per region it shows up in:
  - `Status`: the GetTrailStatus response (`IsLogging`, `LatestCloudWatchLogsDeliveryTime`, ...) or a
    ReadError;
  - `EventSelectors`: the GetEventSelectors response (`EventSelectors` for basic selectors,
    `AdvancedEventSelectors` for advanced ones) or a ReadError.

Account collector, after every region, writes into the global inventory:

- `cloudtrail.remote_trail_details`: `{TrailARN: {"Status": ..., "EventSelectors": ...}}` (same shapes
  as above) for the trails that a scanned region lists but whose home region was not scanned or could
  not list its trails. They are read from the home region, where AWS answers for the trail by ARN.
"""

from __future__ import annotations

from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put, try_read
from posture.aws.inventory import AccountData, Inventory
from posture.aws.session import ClientFactory


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _trail_details(client, trail_arn: str) -> dict[str, Any]:
    """Read the status and event selectors of one trail; a failed read is kept as a ReadError."""
    # The ARN, not the name: organization trails and shadow trails are only found by ARN.
    return {
        "Status": try_read(
            "cloudtrail:GetTrailStatus",
            lambda: _without_metadata(client.get_trail_status(Name=trail_arn)),
        ),
        "EventSelectors": try_read(
            "cloudtrail:GetEventSelectors",
            lambda: _without_metadata(client.get_event_selectors(TrailName=trail_arn)),
        ),
    }


def _trails(client, region: str) -> list[dict[str, Any]]:
    trails = paginate(client, "describe_trails", "trailList", includeShadowTrails=True)
    for trail in trails:
        if trail.get("HomeRegion") == region:
            trail.update(_trail_details(client, trail["TrailARN"]))
    return trails


@collector(name="cloudtrail", phase="regional")
def collect_cloudtrail(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    client = clients.client("cloudtrail", inventory.region)
    safe_put(
        inventory, "cloudtrail.trails", "cloudtrail:DescribeTrails", lambda: _trails(client, inventory.region)
    )


def _trails_without_home_details(data: AccountData) -> dict[str, str]:
    """Map TrailARN to home region for the trails no regional run read the details of."""
    listed_regions = {
        region
        for region, inventory in data.regions.items()
        if isinstance(inventory.items.get("cloudtrail.trails"), list)
    }
    missing: dict[str, str] = {}
    for region in sorted(listed_regions):
        for trail in data.regions[region].items["cloudtrail.trails"]:
            home_region = trail.get("HomeRegion")
            if home_region and home_region not in listed_regions:
                missing[trail["TrailARN"]] = home_region
    return missing


@collector(name="cloudtrail_remote_trails", phase="account")
def collect_remote_trails(
    clients: ClientFactory, inventory: Inventory, *, account_id: str, data: AccountData
) -> None:
    details = {
        arn: _trail_details(clients.client("cloudtrail", home_region), arn)
        for arn, home_region in sorted(_trails_without_home_details(data).items())
    }
    inventory.put("cloudtrail.remote_trail_details", details)
