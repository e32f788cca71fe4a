"""CloudTrail trails with their logging status and event selectors.

Regional collector, once per enabled region, writes:

- `cloudtrail.trails`: list of DescribeTrails items read with includeShadowTrails=True, so the list also
  contains multi-region trails homed in other regions and organization trails of the management account.
  A trail whose `HomeRegion` is this region carries two added keys, so each trail is read once per
  account and not once per region it shows up in:
  - `Status`: the GetTrailStatus response (`IsLogging`, `LatestCloudWatchLogsDeliveryTime`, ...) or a
    ReadError;
  - `EventSelectors`: the GetEventSelectors response (`EventSelectors` for basic selectors,
    `AdvancedEventSelectors` for advanced ones) or a ReadError;
  and, when the trail belongs to this account, a third:
  - `Tags`: the trail's `TagsList` from ListTags (a list of `{"Key", "Value"}`), or a ReadError.
    AWS serves ListTags for a trail only in its home region, and takes 20 ARNs per call. Another
    account's organization trail has no `Tags` key: its tags are not readable from here.

Account collector, after every region, writes into the global inventory:

- `cloudtrail.remote_trail_details`: `{TrailARN: {"Status": ..., "EventSelectors": ..., "Tags": ...}}`
  (same shapes as above, `Tags` again only for this account's trails) for the trails that a scanned
  region lists but whose home region was not scanned or could not list its trails. They are read
  from the home region, where AWS answers for the trail by ARN.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, read_error, safe_put, try_read
from posture.aws.inventory import AccountData, Inventory, ReadError
from posture.aws.session import ClientFactory

logger = logging.getLogger(__name__)

# ListTags accepts at most 20 trail ARNs per call.
TAGS_BATCH_SIZE = 20


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


def _owned(trail_arn: str, account_id: str) -> bool:
    return trail_arn.split(":")[4:5] == [account_id]


def _trail_tags(client, trail_arns: list[str]) -> dict[str, list[dict[str, Any]] | ReadError]:
    """Read the tags of trails homed in the client's region, 20 ARNs per ListTags call.

    A failed call gives its trails a ReadError: their checks are still decided, only without tags.
    """
    tags: dict[str, list[dict[str, Any]] | ReadError] = {}
    for start in range(0, len(trail_arns), TAGS_BATCH_SIZE):
        batch = trail_arns[start : start + TAGS_BATCH_SIZE]
        try:
            listed = paginate(client, "list_tags", "ResourceTagList", ResourceIdList=batch)
        except Exception as exc:  # noqa: BLE001 - tags are evidence only; the checks go on without them
            error = read_error("cloudtrail:ListTags", exc)
            logger.warning(
                "cloudtrail:ListTags in %s failed for %s: %s",
                client.meta.region_name,
                ", ".join(batch),
                error.code,
            )
            tags.update(dict.fromkeys(batch, error))
            continue
        described = {item.get("ResourceId"): item.get("TagsList", []) for item in listed}
        tags.update({arn: described.get(arn, []) for arn in batch})
    return tags


def _trails(client, region: str, account_id: str) -> list[dict[str, Any]]:
    trails = paginate(client, "describe_trails", "trailList", includeShadowTrails=True)
    homed_here = [trail for trail in trails if trail.get("HomeRegion") == region]
    for trail in homed_here:
        trail.update(_trail_details(client, trail["TrailARN"]))
    tags = _trail_tags(client, [t["TrailARN"] for t in homed_here if _owned(t["TrailARN"], account_id)])
    for trail in homed_here:
        if trail["TrailARN"] in tags:
            trail["Tags"] = tags[trail["TrailARN"]]
    return trails


@collector(name="cloudtrail", phase="regional")
def collect_cloudtrail(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    client = clients.client("cloudtrail", inventory.region)
    safe_put(
        inventory,
        "cloudtrail.trails",
        "cloudtrail:DescribeTrails",
        lambda: _trails(client, inventory.region, account_id),
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
    details: dict[str, dict[str, Any]] = {}
    owned_by_region: dict[str, list[str]] = defaultdict(list)
    for arn, home_region in sorted(_trails_without_home_details(data).items()):
        details[arn] = _trail_details(clients.client("cloudtrail", home_region), arn)
        if _owned(arn, account_id):
            owned_by_region[home_region].append(arn)
    for home_region, arns in sorted(owned_by_region.items()):
        for arn, tags in _trail_tags(clients.client("cloudtrail", home_region), arns).items():
            details[arn]["Tags"] = tags
    inventory.put("cloudtrail.remote_trail_details", details)
