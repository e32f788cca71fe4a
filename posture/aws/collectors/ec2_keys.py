"""EC2 key-pair collector: the region's key pairs and the instances that reference them.

Keys written to each regional inventory (each is a `ReadError` instead when its read failed):

- `ec2.key_pairs`: `KeyPairs` items of DescribeKeyPairs (`KeyPairId`, `KeyName`, `KeyType`,
  `CreateTime`, `KeyFingerprint`, `Tags`).
- `ec2.key_pair_instances`: `{KeyName: [InstanceId, ...]}` for instances that are pending, running,
  stopping or stopped. Instances reference a key pair by name only (`KeyName`), and terminated
  instances no longer use theirs, so they are left out.
"""

from __future__ import annotations

from collections import defaultdict

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory

_LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


@collector(name="ec2_keys", phase="regional")
def collect_ec2_keys(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    ec2 = clients.client("ec2", inventory.region)
    safe_put(
        inventory,
        "ec2.key_pairs",
        "ec2:DescribeKeyPairs",
        lambda: paginate(ec2, "describe_key_pairs", "KeyPairs"),
    )
    safe_put(
        inventory,
        "ec2.key_pair_instances",
        "ec2:DescribeInstances",
        lambda: _instances_by_key_name(ec2),
    )


def _instances_by_key_name(ec2) -> dict[str, list[str]]:
    reservations = paginate(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-state-name", "Values": _LIVE_INSTANCE_STATES}],
    )
    by_key: dict[str, list[str]] = defaultdict(list)
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            if instance.get("KeyName"):
                by_key[instance["KeyName"]].append(instance["InstanceId"])
    return {name: sorted(ids) for name, ids in by_key.items()}
