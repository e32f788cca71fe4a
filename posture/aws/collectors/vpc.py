"""VPCs and VPC flow logs.

Regional collector, once per enabled region, writes:

- `vpc.vpcs`: list of DescribeVpcs items (`VpcId`, `OwnerId`, `IsDefault`, `Tags`, ...), including VPCs that
  other accounts share with this one;
- `vpc.flow_logs`: list of DescribeFlowLogs items (`ResourceId`, `FlowLogStatus`, `TrafficType`,
  `LogDestinationType`, `DeliverLogsStatus`, ...) for every resource type (VPC, subnet, network
  interface), read in one paginated listing rather than once per VPC.
"""

from __future__ import annotations

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory


@collector(name="vpc", phase="regional")
def collect_vpc(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    ec2 = clients.client("ec2", inventory.region)
    safe_put(inventory, "vpc.vpcs", "ec2:DescribeVpcs", lambda: paginate(ec2, "describe_vpcs", "Vpcs"))
    safe_put(
        inventory,
        "vpc.flow_logs",
        "ec2:DescribeFlowLogs",
        lambda: paginate(ec2, "describe_flow_logs", "FlowLogs"),
    )
