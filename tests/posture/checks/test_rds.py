"""RDS checks against moto, plus plain-data cases moto cannot produce."""

from __future__ import annotations

from posture.aws.inventory import AccountData, Inventory, ReadError
from posture.checks.base import Status
from tests.aws import aws_account, collect, evaluate

ACCOUNT = "111111111111"
REGION = "us-east-1"
REGION_ID = f"arn:aws::{ACCOUNT}:account/{REGION}"
PASSWORD = "not-a-real-password"  # noqa: S105 - moto requires one


def rds_client():
    return aws_account.client(ACCOUNT, "rds", REGION)


def new_instance(rds, identifier: str, **kwargs) -> str:
    settings = {
        "DBInstanceClass": "db.t3.micro",
        "Engine": "postgres",
        "MasterUsername": "admin_user",
        "MasterUserPassword": PASSWORD,
        "AllocatedStorage": 20,
        **kwargs,
    }
    return rds.create_db_instance(DBInstanceIdentifier=identifier, **settings)["DBInstance"]["DBInstanceArn"]


def new_cluster(rds, identifier: str, *, encrypted: bool) -> str:
    cluster = rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="admin_user",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=encrypted,
    )
    return cluster["DBCluster"]["DBClusterArn"]


def new_open_group(port: int) -> str:
    ec2 = aws_account.client(ACCOUNT, "ec2", REGION)
    group_id = ec2.create_security_group(GroupName=f"db-{port}", Description="database")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    return group_id


def instance_arn(identifier: str) -> str:
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{identifier}"


def plain_data(**items) -> AccountData:
    inventory = Inventory(region=REGION)
    for key, value in items.items():
        if isinstance(value, ReadError):
            inventory.fail(key.replace("__", "."), value)
        else:
            inventory.put(key.replace("__", "."), value)
    return AccountData(
        account_id=ACCOUNT, partition="aws", global_=Inventory(region="global"), regions={REGION: inventory}
    )


# rds_storage_encrypted
def test_storage_verdicts(mock_aws_env):
    rds = rds_client()
    encrypted = new_instance(rds, "encrypted-db", StorageEncrypted=True)
    plain = new_instance(rds, "plain-db", StorageEncrypted=False)
    encrypted_cluster = new_cluster(rds, "encrypted-cluster", encrypted=True)
    plain_cluster = new_cluster(rds, "plain-cluster", encrypted=False)
    member = new_instance(
        rds, "plain-cluster-a", Engine="aurora-postgresql", DBInstanceClass="db.r5.large",
        DBClusterIdentifier="plain-cluster",
    )  # fmt: skip
    data = collect(ACCOUNT)

    results = {r.resource_id: r for r in evaluate("rds_storage_encrypted", data)}
    assert results[encrypted].status == Status.PASS
    assert results[plain].status == Status.FAIL
    assert results[plain].resource_type == "DB instance"
    assert results[encrypted_cluster].status == Status.PASS
    assert results[plain_cluster].status == Status.FAIL
    assert results[plain_cluster].resource_type == "DB cluster"
    # A cluster member is judged through its cluster, never on its own.
    assert member not in results


def test_storage_member_of_unlisted_cluster_judged():
    member = {
        "DBInstanceIdentifier": "orphan",
        "DBInstanceArn": instance_arn("orphan"),
        "DBClusterIdentifier": "gone",
        "StorageEncrypted": False,
    }
    data = plain_data(rds__db_instances=[member], rds__db_clusters=[])
    [result] = evaluate("rds_storage_encrypted", data)
    assert result.status == Status.FAIL
    assert result.evidence["DBClusterIdentifier"] == "gone"


def test_storage_clusters_denied():
    standalone = {
        "DBInstanceIdentifier": "solo",
        "DBInstanceArn": instance_arn("solo"),
        "StorageEncrypted": True,
    }
    member = {
        "DBInstanceIdentifier": "member",
        "DBInstanceArn": instance_arn("member"),
        "DBClusterIdentifier": "cluster",
        "StorageEncrypted": False,
    }
    denied = ReadError("rds:DescribeDBClusters", "AccessDenied", "Injected denial")
    data = plain_data(rds__db_instances=[standalone, member], rds__db_clusters=denied)

    results = {r.resource_id: r for r in evaluate("rds_storage_encrypted", data)}
    assert results[instance_arn("solo")].status == Status.PASS
    assert results[REGION_ID].status == Status.UNKNOWN
    assert instance_arn("member") not in results


def test_storage_without_flag_unknown():
    instance = {"DBInstanceIdentifier": "db", "DBInstanceArn": instance_arn("db")}
    [result] = evaluate(
        "rds_storage_encrypted", plain_data(rds__db_instances=[instance], rds__db_clusters=[])
    )
    assert result.status == Status.UNKNOWN
    assert "StorageEncrypted" in result.reason


# rds_not_public
def test_public_verdicts(mock_aws_env):
    rds = rds_client()
    database_group = new_open_group(5432)
    web_group = new_open_group(443)
    private = new_instance(rds, "private-db", PubliclyAccessible=False)
    exposed = new_instance(rds, "exposed-db", PubliclyAccessible=True, VpcSecurityGroupIds=[database_group])
    fronted = new_instance(rds, "fronted-db", PubliclyAccessible=True, VpcSecurityGroupIds=[web_group])
    data = collect(ACCOUNT)

    results = {r.resource_id: r for r in evaluate("rds_not_public", data)}
    assert results[private].status == Status.PASS
    assert results[exposed].status == Status.FAIL
    assert [g["GroupId"] for g in results[exposed].evidence["internet_open_groups"]] == [database_group]
    assert "opens its port to the internet" in results[exposed].reason
    assert results[fronted].status == Status.FAIL
    assert results[fronted].evidence["internet_open_groups"] == []
    assert results[fronted].evidence["port"] == 5432


def test_public_flag_missing_unknown(mock_aws_env):
    # moto leaves PubliclyAccessible out unless it is given; AWS always returns it.
    arn = new_instance(rds_client(), "unset-db")
    [result] = evaluate("rds_not_public", collect(ACCOUNT))
    assert result.resource_id == arn
    assert result.status == Status.UNKNOWN
    assert "PubliclyAccessible" in result.reason


def test_public_groups_denied_still_decided(mock_aws_env, aws_fakes):
    aws_fakes.deny("ec2", "DescribeSecurityGroups")
    new_instance(rds_client(), "exposed-db", PubliclyAccessible=True)
    [result] = evaluate("rds_not_public", collect(ACCOUNT))
    assert result.status == Status.FAIL
    assert result.evidence["internet_open_groups"] is None
    assert result.evidence["security_groups_error"]["code"] == "AccessDenied"


def test_public_member_uses_cluster_groups():
    group = {
        "GroupId": "sg-db",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
        ],
    }
    cluster = {
        "DBClusterIdentifier": "c1",
        "Port": 5432,
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-db"}],
    }
    member = {
        "DBInstanceIdentifier": "c1-a",
        "DBInstanceArn": instance_arn("c1-a"),
        "DBClusterIdentifier": "c1",
        "PubliclyAccessible": True,
        "VpcSecurityGroups": [],
    }
    data = plain_data(rds__db_instances=[member], rds__db_clusters=[cluster], ec2__security_groups=[group])
    [result] = evaluate("rds_not_public", data)
    assert result.evidence["VpcSecurityGroupIds"] == ["sg-db"]
    assert result.evidence["internet_open_groups"][0]["rules"][0]["peer"] == "::/0"


# Failed reads, empty regions and pagination.
def test_instances_denied_unknown(mock_aws_env, aws_fakes):
    aws_fakes.deny("rds", "DescribeDBInstances")
    cluster = new_cluster(rds_client(), "encrypted-cluster", encrypted=True)
    data = collect(ACCOUNT)

    [public] = evaluate("rds_not_public", data)
    assert public.status == Status.UNKNOWN
    assert public.evidence["error"]["code"] == "AccessDenied"
    storage = {r.resource_id: r for r in evaluate("rds_storage_encrypted", data)}
    assert storage[REGION_ID].status == Status.UNKNOWN
    assert storage[REGION_ID].evidence["error"]["operation"] == "rds:DescribeDBInstances"
    assert storage[cluster].status == Status.PASS


def test_no_databases_not_applicable(mock_aws_env):
    data = collect(ACCOUNT)
    for check_id in ("rds_storage_encrypted", "rds_not_public"):
        results = evaluate(check_id, data)
        assert [r.status for r in results] == [Status.NOT_APPLICABLE], check_id


def test_instances_read_across_pages(mock_aws_env, aws_fakes):
    def instance(identifier, public):
        return {
            "DBInstanceIdentifier": identifier,
            "DBInstanceArn": instance_arn(identifier),
            "PubliclyAccessible": public,
        }

    pages = {
        None: {"DBInstances": [instance("first", False)], "Marker": "page-2"},
        "page-2": {"DBInstances": [instance("second", True)]},
    }
    aws_fakes.add("rds", "DescribeDBInstances", lambda params: pages[params.get("Marker")])
    data = collect(ACCOUNT)

    results = {r.resource_id: r.status for r in evaluate("rds_not_public", data)}
    assert results == {instance_arn("first"): Status.PASS, instance_arn("second"): Status.FAIL}
    assert data.regions[REGION].listed["rds.db_instances"] == 2


# Tags in the evidence: RDS returns `TagList`, the evidence uses `Tags` like every other check.
ORDERS_TAGS = [{"Key": "team", "Value": "orders"}]


def test_storage_cluster_evidence_carries_tags():
    cluster = {
        "DBClusterArn": "arn:aws:rds:us-east-1:111111111111:cluster:orders",
        "DBClusterIdentifier": "orders",
        "StorageEncrypted": False,
        "TagList": ORDERS_TAGS,
    }
    data = plain_data(rds__db_clusters=[cluster], rds__db_instances=[])
    [result] = evaluate("rds_storage_encrypted", data)
    assert result.evidence["Tags"] == ORDERS_TAGS


def test_public_evidence_carries_tags(mock_aws_env):
    new_instance(rds_client(), "orders-db", PubliclyAccessible=True, Tags=ORDERS_TAGS)
    [result] = evaluate("rds_not_public", collect(ACCOUNT))
    assert result.evidence["Tags"] == ORDERS_TAGS


def test_public_evidence_has_no_tag_list():
    instance = {
        "DBInstanceArn": instance_arn("orders-db"),
        "DBInstanceIdentifier": "orders-db",
        "PubliclyAccessible": False,
        "TagList": ORDERS_TAGS,
    }
    [result] = evaluate("rds_not_public", plain_data(rds__db_instances=[instance]))
    assert "TagList" not in result.evidence
