"""The sized seed used by the benchmark: counts and the mix of passing and failing resources."""

from __future__ import annotations

from django.test import override_settings
from moto import mock_aws

from sandbox import patches
from sandbox.seed import SimulatedAccount, seed_sized


def test_seed_sized_counts():
    account = SimulatedAccount("222233334444", "Benchmark", "bench", "bench-external-id")
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_sized(account, endpoint_url=None, users=7, buckets=3, security_groups=6, volumes=4)
        ec2 = clients.client("ec2")
        groups = [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"] != "default"]
        counts = {
            "users": len(clients.client("iam").list_users()["Users"]),
            "buckets": len(clients.client("s3").list_buckets()["Buckets"]),
            "security_groups": len(groups),
            "volumes": len(ec2.describe_volumes()["Volumes"]),
        }
    assert counts == {"users": 7, "buckets": 3, "security_groups": 6, "volumes": 4}


def test_seed_sized_mixes_open_groups():
    account = SimulatedAccount("222233334444", "Benchmark", "bench", "bench-external-id")
    with override_settings(AWS_ENDPOINT_URL=""), mock_aws(), patches.installed():
        clients = seed_sized(account, endpoint_url=None, users=0, buckets=0, security_groups=10, volumes=0)
        open_ssh = clients.client("ec2").describe_security_groups(
            Filters=[{"Name": "ip-permission.cidr", "Values": ["0.0.0.0/0"]}]
        )["SecurityGroups"]
    assert len(open_ssh) == 2
