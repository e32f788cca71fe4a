"""RDS checks: storage encryption of DB instances and clusters, and DB instances reachable from anywhere."""

from __future__ import annotations

from typing import Any

from posture.aws.inventory import DataUnavailable, Inventory, ReadError
from posture.checks.base import Area, CheckContext, Severity, check, tags_evidence
from posture.checks.sg_rules import INTERNET_THRESHOLDS, MalformedRule, ingress_rules, internet_rules


def _read(ctx: CheckContext, region: str, inventory: Inventory, key: str) -> list[dict[str, Any]] | None:
    """Return the listing under `key`, or record the region as UNKNOWN and return None."""
    try:
        return inventory.get(key)
    except DataUnavailable as exc:
        ctx.region_unknown(region, exc.error)
        return None


def _encryption_evidence(item: dict[str, Any], identifier_field: str) -> dict[str, Any]:
    return {
        identifier_field: item.get(identifier_field),
        "Engine": item.get("Engine"),
        "StorageEncrypted": item.get("StorageEncrypted"),
        "KmsKeyId": item.get("KmsKeyId"),
        **tags_evidence(item.get("TagList")),
    }


def _judge_encryption(
    ctx: CheckContext,
    region: str,
    *,
    resource_id: str,
    resource_type: str,
    label: str,
    encrypted: Any,
    evidence: dict[str, Any],
) -> None:
    if not isinstance(encrypted, bool):
        ctx.unknown(
            region=region,
            resource_id=resource_id,
            error=f"The RDS listing returned no StorageEncrypted flag for {label}.",
            evidence=evidence,
            resource_type=resource_type,
        )
        return
    ctx.judge(
        encrypted,
        region=region,
        resource_id=resource_id,
        pass_reason=f"Storage of {label} is encrypted.",
        fail_reason=f"Storage of {label} is not encrypted.",
        evidence=evidence,
        resource_type=resource_type,
    )


@check(
    id="rds_storage_encrypted",
    area=Area.CONFIGURATION,
    title="RDS storage is encrypted",
    severity=Severity.HIGH,
    resource_type="DB instance or cluster",
    decides="PASS when StorageEncrypted is true for the DB cluster, or for a DB instance that belongs "
    "to no cluster; a cluster member is judged through its cluster, which owns the storage.",
    rationale="Unencrypted database storage leaves its automated backups and snapshots unencrypted too, "
    "and encryption cannot be switched on in place later.",
    console="RDS console > Snapshots > Take snapshot of the database; select the snapshot > Actions > "
    "Copy snapshot with Enable encryption; restore the encrypted copy, move clients to it, then delete "
    "the unencrypted database.",
    cli="aws rds create-db-snapshot --db-instance-identifier <db-instance-id> --db-snapshot-identifier "
    "<snapshot-id>\n"
    "aws rds copy-db-snapshot --source-db-snapshot-identifier <snapshot-id> "
    "--target-db-snapshot-identifier <snapshot-id>-encrypted --kms-key-id <kms-key-id>\n"
    "aws rds restore-db-instance-from-db-snapshot --db-instance-identifier <new-db-instance-id> "
    "--db-snapshot-identifier <snapshot-id>-encrypted\n"
    "For a cluster: aws rds create-db-cluster-snapshot, then aws rds restore-db-cluster-from-snapshot "
    "--kms-key-id <kms-key-id>.",
)
def rds_storage_encrypted(ctx: CheckContext) -> None:
    for region in ctx.data.region_names():
        inventory = ctx.data.regions[region]
        clusters = _read(ctx, region, inventory, "rds.db_clusters")
        cluster_ids = set()
        for cluster in clusters or []:
            cluster_ids.add(cluster.get("DBClusterIdentifier"))
            _judge_encryption(
                ctx,
                region,
                resource_id=cluster["DBClusterArn"],
                resource_type="DB cluster",
                label=f"DB cluster {cluster.get('DBClusterIdentifier')}",
                encrypted=cluster.get("StorageEncrypted"),
                evidence=_encryption_evidence(cluster, "DBClusterIdentifier"),
            )

        instances = _read(ctx, region, inventory, "rds.db_instances")
        for instance in instances or []:
            cluster_id = instance.get("DBClusterIdentifier")
            if cluster_id and (clusters is None or cluster_id in cluster_ids):
                # Judged through the cluster, or UNKNOWN with it when the cluster listing failed.
                continue
            evidence = _encryption_evidence(instance, "DBInstanceIdentifier")
            if cluster_id:
                evidence["DBClusterIdentifier"] = cluster_id
                evidence["note"] = "The instance's cluster was not in the cluster listing."
            _judge_encryption(
                ctx,
                region,
                resource_id=instance["DBInstanceArn"],
                resource_type="DB instance",
                label=f"DB instance {instance.get('DBInstanceIdentifier')}",
                encrypted=instance.get("StorageEncrypted"),
                evidence=evidence,
            )


def _db_port(instance: dict[str, Any], cluster: dict[str, Any] | None) -> int | None:
    endpoint_port = (instance.get("Endpoint") or {}).get("Port")
    for candidate in (endpoint_port, instance.get("DbInstancePort"), (cluster or {}).get("Port")):
        if isinstance(candidate, int) and candidate > 0:
            return candidate
    return None


def _security_group_ids(instance: dict[str, Any], cluster: dict[str, Any] | None) -> list[str]:
    memberships = instance.get("VpcSecurityGroups") or (cluster or {}).get("VpcSecurityGroups") or []
    return [m["VpcSecurityGroupId"] for m in memberships if m.get("VpcSecurityGroupId")]


def _exposure_evidence(
    groups: Any,
    group_ids: list[str],
    port: int | None,
    *,
    max_ipv4_prefix: int,
    max_ipv6_prefix: int,
) -> dict[str, Any]:
    """Describe which attached groups let the internet reach the DB port (evidence only)."""
    if isinstance(groups, ReadError):
        return {"internet_open_groups": None, "security_groups_error": groups.as_dict()}
    if not isinstance(groups, list) or port is None:
        reason = "no DB port is known" if port is None else "security groups were not collected"
        return {"internet_open_groups": None, "internet_open_groups_note": f"Not assessed: {reason}."}
    by_id = {group.get("GroupId"): group for group in groups}
    open_groups: list[dict[str, Any]] = []
    for group_id in group_ids:
        group = by_id.get(group_id)
        if group is None:
            continue
        try:
            rules = ingress_rules(group)
        except MalformedRule:
            continue
        exposed = internet_rules(rules, max_ipv4_prefix=max_ipv4_prefix, max_ipv6_prefix=max_ipv6_prefix)
        reaching = [rule for rule in exposed if rule.opens_port(port)]
        if reaching:
            open_groups.append({"GroupId": group_id, "rules": [rule.as_evidence() for rule in reaching]})
    return {"internet_open_groups": open_groups}


@check(
    id="rds_not_public",
    area=Area.ACCESS,
    title="RDS DB instances are not publicly accessible",
    severity=Severity.CRITICAL,
    resource_type="DB instance",
    decides="PASS when the DB instance's PubliclyAccessible flag is false; the evidence also lists the "
    "attached security groups that open the DB port to the internet.",
    rationale="A publicly accessible database gets a public DNS name and address, so one permissive "
    "security group rule is enough to expose it, and its data and backups with it, to the internet.",
    console="RDS console > Databases > select the DB instance > Modify > Connectivity > Additional "
    "configuration > Not publicly accessible > Continue > Apply immediately > Modify DB instance.",
    cli="aws rds modify-db-instance --db-instance-identifier <db-instance-id> --no-publicly-accessible "
    "--apply-immediately",
    thresholds=INTERNET_THRESHOLDS,
)
def rds_not_public(ctx: CheckContext) -> None:
    max_ipv4 = ctx.threshold("max_ipv4_prefix")
    max_ipv6 = ctx.threshold("max_ipv6_prefix")
    for region, inventory in ctx.regions("rds.db_instances"):
        clusters_value = inventory.items.get("rds.db_clusters")
        clusters = clusters_value if isinstance(clusters_value, list) else []
        clusters_by_id = {cluster.get("DBClusterIdentifier"): cluster for cluster in clusters}
        groups = inventory.items.get("ec2.security_groups")
        for instance in inventory.get("rds.db_instances"):
            identifier = instance.get("DBInstanceIdentifier")
            cluster = clusters_by_id.get(instance.get("DBClusterIdentifier"))
            port = _db_port(instance, cluster)
            group_ids = _security_group_ids(instance, cluster)
            public = instance.get("PubliclyAccessible")
            evidence = {
                "DBInstanceIdentifier": identifier,
                "Engine": instance.get("Engine"),
                "PubliclyAccessible": public,
                "port": port,
                "VpcSecurityGroupIds": group_ids,
                **_exposure_evidence(
                    groups, group_ids, port, max_ipv4_prefix=max_ipv4, max_ipv6_prefix=max_ipv6
                ),
                "max_ipv4_prefix": max_ipv4,
                "max_ipv6_prefix": max_ipv6,
                **tags_evidence(instance.get("TagList")),
            }
            if not isinstance(public, bool):
                # AWS always returns the flag, so its absence means the response cannot be trusted.
                ctx.unknown(
                    region=region,
                    resource_id=instance["DBInstanceArn"],
                    error=f"DescribeDBInstances returned no PubliclyAccessible flag for {identifier}.",
                    evidence=evidence,
                )
                continue
            ctx.judge(
                not public,
                region=region,
                resource_id=instance["DBInstanceArn"],
                pass_reason=f"DB instance {identifier} is not publicly accessible.",
                fail_reason=f"DB instance {identifier} is publicly accessible"
                + (
                    " and a security group opens its port to the internet."
                    if evidence["internet_open_groups"]
                    else "."
                ),
                evidence=evidence,
            )
