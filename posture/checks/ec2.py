"""EC2 checks: EBS volume encryption, EBS encryption by default, and public AMIs."""

from __future__ import annotations

from typing import Any

from posture.aws.inventory import DataUnavailable, ReadError
from posture.checks.base import Area, CheckContext, Severity, check, tags_evidence

# The only state in which new public sharing of AMIs is blocked.
IMAGE_BLOCK_PUBLIC_ACCESS_ON = "block-new-sharing"


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@check(
    id="ebs_volume_encrypted",
    area=Area.CONFIGURATION,
    title="EBS volumes are encrypted",
    severity=Severity.HIGH,
    resource_type="volume",
    decides="PASS when the volume's Encrypted flag is true.",
    rationale="Unencrypted volumes and the snapshots taken from them expose data to anyone who gets a "
    "copy; encryption with KMS also lets key policies control who can restore them.",
    console="EC2 console > Elastic Block Store > Volumes > select the volume > Actions > Create snapshot; "
    "then Snapshots > Actions > Copy snapshot with Encrypt this snapshot; create a volume from the "
    "encrypted copy and swap it in.",
    cli="aws ec2 create-snapshot --volume-id <volume-id>\n"
    "aws ec2 copy-snapshot --source-region <region> --source-snapshot-id <snapshot-id> --encrypted "
    "--kms-key-id <kms-key-id>\n"
    "aws ec2 create-volume --snapshot-id <encrypted-snapshot-id> --availability-zone <az>",
)
def ebs_volume_encrypted(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("ec2.volumes"):
        for volume in inventory.get("ec2.volumes"):
            volume_id = volume["VolumeId"]
            resource_id = f"arn:{ctx.data.partition}:ec2:{region}:{ctx.account_id}:volume/{volume_id}"
            evidence = {
                "VolumeId": volume_id,
                "Encrypted": volume.get("Encrypted"),
                "KmsKeyId": volume.get("KmsKeyId"),
                "State": volume.get("State"),
                "InstanceIds": [a.get("InstanceId") for a in volume.get("Attachments") or []],
                "CreateTime": _iso(volume.get("CreateTime")),
                **tags_evidence(volume.get("Tags")),
            }
            encrypted = volume.get("Encrypted")
            if not isinstance(encrypted, bool):
                ctx.unknown(
                    region=region,
                    resource_id=resource_id,
                    error=f"DescribeVolumes returned no Encrypted flag for {volume_id}.",
                    evidence=evidence,
                )
                continue
            ctx.judge(
                encrypted,
                region=region,
                resource_id=resource_id,
                pass_reason=f"Volume {volume_id} is encrypted.",
                fail_reason=f"Volume {volume_id} is not encrypted.",
                evidence=evidence,
            )


@check(
    id="ebs_default_encryption",
    area=Area.CONFIGURATION,
    title="EBS encryption by default is on",
    severity=Severity.MEDIUM,
    resource_type="region",
    decides="PASS when GetEbsEncryptionByDefault returns true for the region.",
    rationale="With encryption by default every new volume and snapshot copy is encrypted, so no one "
    "has to remember to ask for it.",
    console="EC2 console (in each region) > Dashboard > Account attributes > Data protection and "
    "security > EBS encryption > Manage > Enable > Update EBS encryption.",
    cli="aws ec2 enable-ebs-encryption-by-default --region <region>",
)
def ebs_default_encryption(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("ec2.ebs_encryption_by_default"):
        response = inventory.get("ec2.ebs_encryption_by_default")
        enabled = response.get("EbsEncryptionByDefault")
        resource_id = ctx.region_resource_id(region)
        evidence = {"EbsEncryptionByDefault": enabled, "SseType": response.get("SseType")}
        if not isinstance(enabled, bool):
            ctx.unknown(
                region=region,
                resource_id=resource_id,
                error="GetEbsEncryptionByDefault returned no EbsEncryptionByDefault flag.",
                evidence=evidence,
                resource_type="region",
            )
            continue
        ctx.judge(
            enabled,
            region=region,
            resource_id=resource_id,
            pass_reason=f"EBS encryption by default is on in {region}.",
            fail_reason=f"EBS encryption by default is off in {region}.",
            evidence=evidence,
        )


@check(
    id="ami_not_public",
    area=Area.ACCESS,
    title="Owned AMIs are private and public sharing is blocked",
    severity=Severity.CRITICAL,
    resource_type="image",
    decides="PASS for an AMI the account owns when its Public flag is false; PASS for the account and "
    "region when image block public access is in the block-new-sharing state.",
    rationale="A public AMI lets anyone launch a copy of the machine with the data and credentials "
    "stored in it; blocking public access in the region stops the next one from being shared.",
    console="EC2 console > Images > AMIs > select the AMI > Actions > Edit AMI permissions > Private > "
    "Save changes. For the region: EC2 console > Dashboard > Account attributes > Data protection and "
    "security > Block public access for AMIs > Manage > Block new public sharing.",
    cli="aws ec2 modify-image-attribute --image-id <image-id> --launch-permission 'Remove=[{Group=all}]'\n"
    "aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing "
    "--region <region>",
)
def ami_not_public(ctx: CheckContext) -> None:
    # Each region gets one result for its block public access setting and one per owned image. The
    # two are read separately, so a failed read of one does not hide the other.
    for region in ctx.data.region_names():
        inventory = ctx.data.regions[region]
        _judge_block_public_access(ctx, region, inventory.items.get("ec2.image_block_public_access"))
        try:
            images = inventory.get("ec2.images")
        except DataUnavailable as exc:
            ctx.region_unknown(region, exc.error)
            continue
        for image in images:
            _judge_image(ctx, region, image)


def _judge_block_public_access(ctx: CheckContext, region: str, response: Any) -> None:
    # Distinct from the region id, which an UNKNOWN for a failed image listing uses.
    resource_id = f"{ctx.region_resource_id(region)}/image-block-public-access"
    if not isinstance(response, dict):
        error = (
            response if isinstance(response, ReadError) else "Image block public access was not collected."
        )
        ctx.unknown(region=region, resource_id=resource_id, error=error, resource_type="region")
        return
    state = response.get("ImageBlockPublicAccessState")
    ctx.judge(
        state == IMAGE_BLOCK_PUBLIC_ACCESS_ON,
        region=region,
        resource_id=resource_id,
        pass_reason=f"Image block public access is on ({state}) in {region}.",
        fail_reason=f"Image block public access is not on in {region} (state {state}).",
        evidence={"ImageBlockPublicAccessState": state, "ManagedBy": response.get("ManagedBy")},
        resource_type="region",
    )


def _judge_image(ctx: CheckContext, region: str, image: dict[str, Any]) -> None:
    image_id = image["ImageId"]
    resource_id = f"arn:{ctx.data.partition}:ec2:{region}::image/{image_id}"
    public = image.get("Public")
    evidence = {
        "ImageId": image_id,
        "Name": image.get("Name"),
        "OwnerId": image.get("OwnerId"),
        "Public": public,
        "State": image.get("State"),
        "CreationDate": image.get("CreationDate"),
        **tags_evidence(image.get("Tags")),
    }
    if not isinstance(public, bool):
        ctx.unknown(
            region=region,
            resource_id=resource_id,
            error=f"DescribeImages returned no Public flag for {image_id}.",
            evidence=evidence,
        )
        return
    ctx.judge(
        not public,
        region=region,
        resource_id=resource_id,
        pass_reason=f"AMI {image_id} is private.",
        fail_reason=f"AMI {image_id} is public: anyone can launch it.",
        evidence=evidence,
    )
