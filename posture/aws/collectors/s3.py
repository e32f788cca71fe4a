"""S3: the account's buckets, the account-level public access block and the trail buckets' settings.

Global collector, once per account, writes:

- `s3.buckets`: list of ListBuckets items (`Name`, `CreationDate`, `BucketRegion` where AWS returns it),
  the buckets this account owns;
- `s3.account_public_access_block`: the S3 Control GetPublicAccessBlock `PublicAccessBlockConfiguration`
  dict (`BlockPublicAcls`, `IgnorePublicAcls`, `BlockPublicPolicy`, `RestrictPublicBuckets`), or None
  when the account has none (NoSuchPublicAccessBlockConfiguration).

Account collector, after every region, writes into the global inventory:

- `s3.trail_buckets`: `{bucket name: record}` for every distinct bucket that a trail listed in any
  scanned region delivers to. A record holds:
  - `Name` and `TrailARNs` (sorted ARNs of the trails delivering there);
  - `Owned`: True when `s3.buckets` lists the bucket, False for another account's bucket (an
    organization trail's bucket, for example), or the ReadError of ListBuckets when it failed;
  - only for owned buckets, each value or a ReadError:
    - `Logging`: the GetBucketLogging response (`LoggingEnabled` is absent when logging is off);
    - `Versioning`: the GetBucketVersioning response (`Status`, `MFADelete`; empty when never enabled);
    - `Acl`: the GetBucketAcl response (`Owner`, `Grants`);
    - `PolicyStatus`: the GetBucketPolicyStatus `PolicyStatus` dict (`IsPublic`), or None when the bucket
      has no policy (NoSuchBucketPolicy);
    - `PublicAccessBlock`: the bucket's `PublicAccessBlockConfiguration` dict, or None when it has none
      (NoSuchPublicAccessBlockConfiguration);
    - `Tags`: the GetBucketTagging `TagSet` (a list of `{"Key", "Value"}`), empty when the bucket has
      no tags (NoSuchTagSet). Only trail buckets are judged, so only they cost this extra call.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put, try_read
from posture.aws.inventory import AccountData, DataUnavailable, Inventory, ReadError
from posture.aws.session import ClientFactory

logger = logging.getLogger(__name__)

# ListBuckets and S3 Control work from any region of the partition, and us-east-1 cannot be disabled.
GLOBAL_CLIENT_REGION = "us-east-1"


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _put_value_or_error(inventory: Inventory, key: str, value: Any) -> None:
    if isinstance(value, ReadError):
        inventory.fail(key, value)
    else:
        inventory.put(key, value)


@collector(name="s3", phase="global")
def collect_s3(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    s3 = clients.client("s3", GLOBAL_CLIENT_REGION)
    safe_put(inventory, "s3.buckets", "s3:ListBuckets", lambda: paginate(s3, "list_buckets", "Buckets"))

    s3control = clients.client("s3control", GLOBAL_CLIENT_REGION)
    account_block = try_read(
        "s3control:GetPublicAccessBlock",
        lambda: s3control.get_public_access_block(AccountId=account_id)["PublicAccessBlockConfiguration"],
        absent=("NoSuchPublicAccessBlockConfiguration",),
    )
    _put_value_or_error(inventory, "s3.account_public_access_block", account_block)


def _bucket_tags(s3, bucket: str) -> list[dict[str, str]] | ReadError:
    tags = try_read(
        "s3:GetBucketTagging",
        lambda: s3.get_bucket_tagging(Bucket=bucket)["TagSet"],
        absent=("NoSuchTagSet",),
    )
    if isinstance(tags, ReadError):
        logger.warning("s3:GetBucketTagging of bucket %s failed: %s", bucket, tags.code)
        return tags
    return tags or []


def _bucket_details(s3, bucket: str) -> dict[str, Any]:
    return {
        "Tags": _bucket_tags(s3, bucket),
        "Logging": try_read(
            "s3:GetBucketLogging", lambda: _without_metadata(s3.get_bucket_logging(Bucket=bucket))
        ),
        "Versioning": try_read(
            "s3:GetBucketVersioning", lambda: _without_metadata(s3.get_bucket_versioning(Bucket=bucket))
        ),
        "Acl": try_read("s3:GetBucketAcl", lambda: _without_metadata(s3.get_bucket_acl(Bucket=bucket))),
        "PolicyStatus": try_read(
            "s3:GetBucketPolicyStatus",
            lambda: s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"],
            absent=("NoSuchBucketPolicy",),
        ),
        "PublicAccessBlock": try_read(
            "s3:GetPublicAccessBlock",
            lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
            absent=("NoSuchPublicAccessBlockConfiguration",),
        ),
    }


def _trail_arns_by_bucket(data: AccountData) -> dict[str, set[str]]:
    arns: dict[str, set[str]] = defaultdict(set)
    for inventory in data.regions.values():
        trails = inventory.items.get("cloudtrail.trails")
        if not isinstance(trails, list):
            continue  # the region's trail list failed; the trail checks report that region as UNKNOWN
        for trail in trails:
            if trail.get("S3BucketName"):
                arns[trail["S3BucketName"]].add(trail["TrailARN"])
    return arns


@collector(name="s3_trail_buckets", phase="account")
def collect_trail_buckets(
    clients: ClientFactory, inventory: Inventory, *, account_id: str, data: AccountData
) -> None:
    try:
        owned: dict[str, dict[str, Any]] | ReadError = {b["Name"]: b for b in inventory.get("s3.buckets")}
    except DataUnavailable as exc:
        owned = exc.error

    records: dict[str, dict[str, Any]] = {}
    for bucket, trail_arns in sorted(_trail_arns_by_bucket(data).items()):
        record: dict[str, Any] = {"Name": bucket, "TrailARNs": sorted(trail_arns)}
        if isinstance(owned, ReadError):
            record["Owned"] = owned
        elif bucket not in owned:
            # Another account's bucket: its settings are not readable from here.
            record["Owned"] = False
        else:
            record["Owned"] = True
            # A client in the bucket's own region saves the redirect a global client would get.
            region = owned[bucket].get("BucketRegion") or GLOBAL_CLIENT_REGION
            record.update(_bucket_details(clients.client("s3", region), bucket))
        records[bucket] = record
    inventory.put("s3.trail_buckets", records)
