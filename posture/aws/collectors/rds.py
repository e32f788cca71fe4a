"""RDS collector: DB instances and DB clusters.

Keys written, once per region (each one a `ReadError` instead when its call failed):
- `rds.db_instances`: list of DescribeDBInstances items (`DBInstanceArn`, `DBInstanceIdentifier`,
  `DBClusterIdentifier` for cluster members, `Engine`, `StorageEncrypted`, `KmsKeyId`,
  `PubliclyAccessible`, `Endpoint`, `DbInstancePort`, `VpcSecurityGroups`, `TagList`, ...).
- `rds.db_clusters`: list of DescribeDBClusters items (`DBClusterArn`, `DBClusterIdentifier`,
  `Engine`, `StorageEncrypted`, `KmsKeyId`, `Port`, `VpcSecurityGroups`, `DBClusterMembers`,
  `TagList`, ...).
  The listing also contains Neptune and DocumentDB clusters, which share this API.
"""

from __future__ import annotations

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory


@collector(name="rds", phase="regional")
def collect(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    rds = clients.client("rds", inventory.region)

    safe_put(
        inventory,
        "rds.db_instances",
        "rds:DescribeDBInstances",
        lambda: paginate(rds, "describe_db_instances", "DBInstances"),
    )
    safe_put(
        inventory,
        "rds.db_clusters",
        "rds:DescribeDBClusters",
        lambda: paginate(rds, "describe_db_clusters", "DBClusters"),
    )
