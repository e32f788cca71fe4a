"""VPC checks: flow logs on every VPC."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from posture.checks.base import Area, CheckContext, EmptyScope, Severity, check, tags_evidence


@check(
    id="vpc_flow_logs",
    area=Area.MONITORING,
    title="VPCs have flow logs",
    severity=Severity.MEDIUM,
    resource_type="VPC",
    decides="PASS when an ACTIVE flow log has the VPC itself as its resource (flow logs on subnets or "
    "network interfaces do not count); VPCs that another account shares with this one are "
    "NOT_APPLICABLE here and judged in the owner account.",
    rationale="Flow logs show which addresses talked to which, so an investigation can find data "
    "copied out of the network or a host reaching backup endpoints it should not.",
    console="VPC console > Your VPCs > <VPC> > Flow logs > Create flow log: filter All, destination "
    "CloudWatch Logs or S3.",
    cli="aws ec2 create-flow-logs --resource-type VPC --resource-ids <vpc-id> --traffic-type ALL "
    "--log-destination-type s3 --log-destination arn:aws:s3:::<bucket>",
    empty=EmptyScope.REGION,
)
def vpc_flow_logs(ctx: CheckContext) -> None:
    for region, inventory in ctx.regions("vpc.vpcs", "vpc.flow_logs"):
        flow_logs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for flow_log in inventory.get("vpc.flow_logs"):
            flow_logs[flow_log.get("ResourceId", "")].append(flow_log)

        for vpc in inventory.get("vpc.vpcs"):
            vpc_id = vpc["VpcId"]
            owner = vpc.get("OwnerId") or ctx.account_id
            resource_id = f"arn:{ctx.data.partition}:ec2:{region}:{owner}:vpc/{vpc_id}"
            evidence: dict[str, Any] = {
                "vpc_id": vpc_id,
                "is_default": vpc.get("IsDefault") is True,
                **tags_evidence(vpc.get("Tags")),
            }
            if owner != ctx.account_id:
                ctx.not_applicable(
                    region=region,
                    resource_id=resource_id,
                    evidence={**evidence, "owner": owner},
                    reason=f"VPC {vpc_id} is shared by account {owner}, which owns its flow logs.",
                )
                continue
            logs = sorted(flow_logs.get(vpc_id, []), key=lambda log: log.get("FlowLogId", ""))
            evidence["flow_logs"] = [
                {
                    "FlowLogId": log.get("FlowLogId"),
                    "FlowLogStatus": log.get("FlowLogStatus"),
                    "TrafficType": log.get("TrafficType"),
                    "LogDestinationType": log.get("LogDestinationType"),
                    "DeliverLogsStatus": log.get("DeliverLogsStatus"),
                }
                for log in logs
            ]
            active = [log.get("FlowLogId") for log in logs if log.get("FlowLogStatus") == "ACTIVE"]
            ctx.judge(
                bool(active),
                region=region,
                resource_id=resource_id,
                pass_reason=f"VPC {vpc_id} has active flow logs: {', '.join(active)}.",
                fail_reason=f"VPC {vpc_id} has no active flow log.",
                evidence=evidence,
            )
