"""Amazon Redshift checks: audit logging of each cluster."""

from __future__ import annotations

from posture.aws.inventory import ReadError
from posture.checks.base import Area, CheckContext, EmptyScope, Severity, check, tags_evidence


@check(
    id="redshift_audit_logging",
    area=Area.MONITORING,
    title="Redshift clusters have audit logging",
    severity=Severity.MEDIUM,
    resource_type="cluster",
    decides="PASS when DescribeLoggingStatus reports LoggingEnabled for the cluster.",
    rationale="Audit logs record connections and user changes in the database, which CloudTrail does not "
    "see, so they are the only trace of someone exporting or dropping data from inside.",
    console="Amazon Redshift console > Clusters > <cluster> > Properties > Database configurations > "
    "Edit audit logging: turn on, and choose CloudWatch or an S3 bucket.",
    cli="aws redshift enable-logging --cluster-identifier <cluster> --log-destination-type cloudwatch "
    "--log-exports connectionlog userlog useractivitylog",
    empty=EmptyScope.REGION,
)
def redshift_audit_logging(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("redshift.clusters"):
        for cluster in inventory.get("redshift.clusters"):
            cluster_id = cluster["ClusterIdentifier"]
            resource_id = f"arn:{ctx.data.partition}:redshift:{region}:{ctx.account_id}:cluster:{cluster_id}"
            evidence = {"cluster": cluster_id, **tags_evidence(cluster.get("Tags"))}
            status = cluster.get("LoggingStatus")
            if isinstance(status, ReadError):
                ctx.unknown(region=region, resource_id=resource_id, error=status, evidence=evidence)
                continue
            status = status or {}
            enabled = status.get("LoggingEnabled") is True
            ctx.judge(
                enabled,
                region=region,
                resource_id=resource_id,
                pass_reason=f"Cluster {cluster_id} writes audit logs to "
                f"{status.get('LogDestinationType') or 's3'}.",
                fail_reason=f"Cluster {cluster_id} has audit logging off.",
                evidence={
                    **evidence,
                    "LoggingEnabled": enabled,
                    "LogDestinationType": status.get("LogDestinationType") or None,
                    "BucketName": status.get("BucketName") or None,
                    "LogExports": status.get("LogExports", []),
                },
            )
