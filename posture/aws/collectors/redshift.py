"""Amazon Redshift clusters and their audit logging status.

Regional collector, once per enabled region, writes:

- `redshift.clusters`: list of DescribeClusters items (`ClusterIdentifier`, `Tags`, ...), each with the
  added key `LoggingStatus`: the DescribeLoggingStatus response (`LoggingEnabled`, `LogDestinationType`,
  `BucketName`, `LogExports`, ...) or a ReadError.
"""

from __future__ import annotations

from typing import Any

from posture.aws.collectors import collector
from posture.aws.collectors.base import paginate, safe_put, try_read
from posture.aws.inventory import Inventory
from posture.aws.session import ClientFactory


def _logging_status(redshift, cluster_id: str) -> dict[str, Any]:
    response = redshift.describe_logging_status(ClusterIdentifier=cluster_id)
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def _clusters(redshift) -> list[dict[str, Any]]:
    clusters = paginate(redshift, "describe_clusters", "Clusters")
    for cluster in clusters:
        cluster_id = cluster["ClusterIdentifier"]
        cluster["LoggingStatus"] = try_read(
            "redshift:DescribeLoggingStatus",
            lambda cluster_id=cluster_id: _logging_status(redshift, cluster_id),
        )
    return clusters


@collector(name="redshift", phase="regional")
def collect_redshift(clients: ClientFactory, inventory: Inventory, *, account_id: str) -> None:
    redshift = clients.client("redshift", inventory.region)
    safe_put(inventory, "redshift.clusters", "redshift:DescribeClusters", lambda: _clusters(redshift))
