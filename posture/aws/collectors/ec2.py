"""EC2 collector: security groups, network interfaces, EBS volumes and encryption default, owned AMIs.

Keys written, once per region (each one a `ReadError` instead when its call failed):
- `ec2.security_groups`: list of DescribeSecurityGroups items (`GroupId`, `GroupName`, `VpcId`,
  `OwnerId`, `IpPermissions`, `IpPermissionsEgress`, `Tags`, ...).
- `ec2.network_interfaces`: list of DescribeNetworkInterfaces items (`NetworkInterfaceId`, `Groups`,
  `Status`, `InterfaceType`, ...). One listing shows which security groups are attached to anything
  (instances, load balancers, RDS, Lambda), instead of one call per group.
- `ec2.volumes`: list of DescribeVolumes items (`VolumeId`, `Encrypted`, `KmsKeyId`, `State`,
  `Attachments`, `Tags`, ...).
- `ec2.ebs_encryption_by_default`: the GetEbsEncryptionByDefault response without its metadata,
  e.g. `{"EbsEncryptionByDefault": True, "SseType": "sse-ebs"}`.
- `ec2.images`: list of DescribeImages items for the AMIs the account owns (`ImageId`, `Name`,
  `Public`, `State`, `CreationDate`, `Tags`, ...).
- `ec2.image_block_public_access`: the GetImageBlockPublicAccessState response without its
  metadata, e.g. `{"ImageBlockPublicAccessState": "block-new-sharing"}`.

`Tags` is AWS's list of `{"Key", "Value"}`; the listings return it with no extra call, and the
checks copy it into the evidence. Key pairs and instances are collected by `ec2_keys`; snapshots are
not collected here.
"""

from __future__ import annotations

from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


@collector(name="ec2", phase="regional")
def collect(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    ec2 = clients.client("ec2", inventory.region)

    safe_put(
        inventory,
        "ec2.security_groups",
        "ec2:DescribeSecurityGroups",
        lambda: paginate(ec2, "describe_security_groups", "SecurityGroups"),
    )
    safe_put(
        inventory,
        "ec2.network_interfaces",
        "ec2:DescribeNetworkInterfaces",
        lambda: paginate(ec2, "describe_network_interfaces", "NetworkInterfaces"),
    )
    safe_put(
        inventory, "ec2.volumes", "ec2:DescribeVolumes", lambda: paginate(ec2, "describe_volumes", "Volumes")
    )
    safe_put(
        inventory,
        "ec2.ebs_encryption_by_default",
        "ec2:GetEbsEncryptionByDefault",
        lambda: _without_metadata(ec2.get_ebs_encryption_by_default()),
    )
    safe_put(
        inventory,
        "ec2.images",
        "ec2:DescribeImages",
        lambda: paginate(ec2, "describe_images", "Images", Owners=["self"]),
    )
    safe_put(
        inventory,
        "ec2.image_block_public_access",
        "ec2:GetImageBlockPublicAccessState",
        lambda: _without_metadata(ec2.get_image_block_public_access_state()),
    )
