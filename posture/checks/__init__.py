"""The checks, one module per AWS service family. Importing this package registers them all."""

from posture.checks import (  # noqa: F401 - importing registers the checks
    cloudtrail,
    ec2,
    elb,
    iam,
    rds,
    redshift,
    security_groups,
    vpc,
)
