"""EBS and AMI checks against moto."""

from __future__ import annotations

from posture.aws.inventory import AccountData, Inventory
from posture.checks.base import Status
from tests.aws import aws_account, check_results, collect, evaluate

ACCOUNT = "111111111111"
REGION = "us-east-1"
BLOCK_PUBLIC_ACCESS_ID = f"arn:aws::{ACCOUNT}:account/{REGION}/image-block-public-access"


def ec2_client(region: str = REGION):
    return aws_account.client(ACCOUNT, "ec2", region)


def volume_arn(volume_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume_id}"


def image_arn(image_id: str) -> str:
    return f"arn:aws:ec2:{REGION}::image/{image_id}"


def new_image(ec2, name: str) -> str:
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]
    return ec2.create_image(InstanceId=instance["InstanceId"], Name=name)["ImageId"]


def block_state(state: str):
    return lambda params: {"ImageBlockPublicAccessState": state, "ManagedBy": "account"}


def plain_data(**items) -> AccountData:
    inventory = Inventory(region=REGION)
    for key, value in items.items():
        inventory.put(key.replace("__", "."), value)
    return AccountData(
        account_id=ACCOUNT, partition="aws", global_=Inventory(region="global"), regions={REGION: inventory}
    )


# ebs_volume_encrypted
def test_volume_verdicts(mock_aws_env):
    ec2 = ec2_client()
    encrypted = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=True)["VolumeId"]
    plain = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a", Encrypted=False)["VolumeId"]

    results = {r.resource_id: r for r in check_results("ebs_volume_encrypted", ACCOUNT)}
    assert results[volume_arn(encrypted)].status == Status.PASS
    assert results[volume_arn(plain)].status == Status.FAIL
    assert results[volume_arn(plain)].evidence["Encrypted"] is False
    assert isinstance(results[volume_arn(plain)].evidence["CreateTime"], str)


def test_volume_without_flag_unknown():
    data = plain_data(ec2__volumes=[{"VolumeId": "vol-1", "State": "available"}])
    [result] = evaluate("ebs_volume_encrypted", data)
    assert result.status == Status.UNKNOWN
    assert "Encrypted" in result.reason


def test_volumes_read_across_pages(mock_aws_env, aws_fakes):
    pages = {
        None: {"Volumes": [{"VolumeId": "vol-a", "Encrypted": True}], "NextToken": "page-2"},
        "page-2": {"Volumes": [{"VolumeId": "vol-b", "Encrypted": False}]},
    }
    aws_fakes.add("ec2", "DescribeVolumes", lambda params: pages[params.get("NextToken")])
    images = {
        None: {"Images": [{"ImageId": "ami-a", "Public": False}], "NextToken": "page-2"},
        "page-2": {"Images": [{"ImageId": "ami-b", "Public": True}]},
    }
    aws_fakes.add("ec2", "DescribeImages", lambda params: images[params.get("NextToken")])
    data = collect(ACCOUNT)

    volumes = {r.resource_id: r.status for r in evaluate("ebs_volume_encrypted", data)}
    assert volumes == {volume_arn("vol-a"): Status.PASS, volume_arn("vol-b"): Status.FAIL}
    found = {r.resource_id: r.status for r in evaluate("ami_not_public", data)}
    assert found[image_arn("ami-a")] == Status.PASS
    assert found[image_arn("ami-b")] == Status.FAIL
    assert data.regions[REGION].listed["ec2.images"] == 2


def test_images_requested_for_own_account(mock_aws_env, aws_fakes):
    aws_fakes.add("ec2", "DescribeImages", lambda params: {"Images": []})
    collect(ACCOUNT)
    requests = [params for service, op, params in aws_fakes.calls if op == "DescribeImages"]
    assert requests[0]["Owners"] == ["self"]


# ebs_default_encryption
def test_default_encryption_verdicts(mock_aws_env):
    ec2_client(REGION).enable_ebs_encryption_by_default()
    results = {r.region: r for r in check_results("ebs_default_encryption", ACCOUNT, ["eu-west-1", REGION])}
    assert results[REGION].status == Status.PASS
    assert results[REGION].resource_id == f"arn:aws::{ACCOUNT}:account/{REGION}"
    assert results["eu-west-1"].status == Status.FAIL
    assert results["eu-west-1"].evidence["EbsEncryptionByDefault"] is False


# ami_not_public
def test_image_verdicts(mock_aws_env):
    ec2 = ec2_client()
    private = new_image(ec2, "private-image")
    public = new_image(ec2, "public-image")
    ec2.modify_image_attribute(ImageId=public, LaunchPermission={"Add": [{"Group": "all"}]})

    results = {r.resource_id: r for r in check_results("ami_not_public", ACCOUNT)}
    assert results[image_arn(private)].status == Status.PASS
    assert results[image_arn(public)].status == Status.FAIL
    assert results[image_arn(public)].evidence["Public"] is True
    # moto lacks GetImageBlockPublicAccessState: that result alone is UNKNOWN.
    assert results[BLOCK_PUBLIC_ACCESS_ID].status == Status.UNKNOWN
    assert results[BLOCK_PUBLIC_ACCESS_ID].evidence["error"]["code"] == "NotImplemented"


def test_block_public_access_on_passes(mock_aws_env, aws_fakes):
    aws_fakes.add("ec2", "GetImageBlockPublicAccessState", block_state("block-new-sharing"))
    [result] = check_results("ami_not_public", ACCOUNT)
    assert result.resource_id == BLOCK_PUBLIC_ACCESS_ID
    assert result.status == Status.PASS
    assert result.evidence["ImageBlockPublicAccessState"] == "block-new-sharing"


def test_block_public_access_off_fails():
    data = plain_data(
        ec2__images=[], ec2__image_block_public_access={"ImageBlockPublicAccessState": "unblocked"}
    )
    [result] = evaluate("ami_not_public", data)
    assert result.status == Status.FAIL
    assert "unblocked" in result.reason


def test_image_without_flag_unknown():
    data = plain_data(
        ec2__images=[{"ImageId": "ami-1"}],
        ec2__image_block_public_access={"ImageBlockPublicAccessState": "block-new-sharing"},
    )
    results = {r.resource_id: r.status for r in evaluate("ami_not_public", data)}
    assert results[image_arn("ami-1")] == Status.UNKNOWN


# Failed reads and empty regions.
def test_reads_denied_unknown(mock_aws_env, aws_fakes):
    for operation in ("DescribeVolumes", "GetEbsEncryptionByDefault", "DescribeImages"):
        aws_fakes.deny("ec2", operation)
    aws_fakes.add("ec2", "GetImageBlockPublicAccessState", block_state("block-new-sharing"))
    data = collect(ACCOUNT)

    [volumes] = evaluate("ebs_volume_encrypted", data)
    assert volumes.status == Status.UNKNOWN
    assert volumes.evidence["error"]["code"] == "AccessDenied"
    [default] = evaluate("ebs_default_encryption", data)
    assert default.status == Status.UNKNOWN
    assert default.evidence["error"]["operation"] == "ec2:GetEbsEncryptionByDefault"
    images = {r.resource_id: r for r in evaluate("ami_not_public", data)}
    assert images[f"arn:aws::{ACCOUNT}:account/{REGION}"].status == Status.UNKNOWN
    assert images[f"arn:aws::{ACCOUNT}:account/{REGION}"].evidence["error"]["code"] == "AccessDenied"
    # The region setting was readable, so it is still judged.
    assert images[BLOCK_PUBLIC_ACCESS_ID].status == Status.PASS


def test_empty_region(mock_aws_env):
    data = collect(ACCOUNT)
    [volumes] = evaluate("ebs_volume_encrypted", data)
    assert volumes.status == Status.NOT_APPLICABLE
    # With no owned image, the region's block public access setting is still judged.
    assert [r.resource_id for r in evaluate("ami_not_public", data)] == [BLOCK_PUBLIC_ACCESS_ID]


# Tags in the evidence.
SCRATCH_TAGS = [{"Key": "backup-tier", "Value": "scratch"}, {"Key": "Name", "Value": "tmp"}]


def test_volume_evidence_carries_tags(mock_aws_env):
    ec2_client().create_volume(
        Size=1,
        AvailabilityZone="us-east-1a",
        Encrypted=False,
        TagSpecifications=[{"ResourceType": "volume", "Tags": SCRATCH_TAGS}],
    )
    [result] = check_results("ebs_volume_encrypted", ACCOUNT)
    assert result.evidence["Tags"] == sorted(SCRATCH_TAGS, key=lambda tag: tag["Key"])


def test_untagged_volume_evidence_has_no_tags():
    data = plain_data(ec2__volumes=[{"VolumeId": "vol-1", "Encrypted": True, "Tags": []}])
    [result] = evaluate("ebs_volume_encrypted", data)
    assert "Tags" not in result.evidence


def test_image_evidence_carries_tags():
    image = {"ImageId": "ami-1", "Public": True, "Tags": [{"Key": "team", "Value": "build"}]}
    block = {"ImageBlockPublicAccessState": "block-new-sharing"}
    data = plain_data(ec2__images=[image], ec2__image_block_public_access=block)
    result = next(r for r in evaluate("ami_not_public", data) if r.resource_id == image_arn("ami-1"))
    assert result.evidence["Tags"] == [{"Key": "team", "Value": "build"}]


def test_region_setting_evidence_has_no_tags():
    block = {"ImageBlockPublicAccessState": "block-new-sharing"}
    data = plain_data(ec2__images=[], ec2__image_block_public_access=block)
    [result] = evaluate("ami_not_public", data)
    assert "Tags" not in result.evidence
