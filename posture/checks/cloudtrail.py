"""CloudTrail checks: trails that log every region, and the settings of each trail and its bucket.

Every trail is judged once, by ARN, however many regions list it (a multi-region trail shows up in
every region, an organization trail in every member account). Trail results carry the trail's home
region. Bucket results carry region "global", because a bucket is judged once per account whatever
the regions of the trails that deliver to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from posture.aws.inventory import GLOBAL_REGION, DataUnavailable, ReadError
from posture.checks.base import Area, CheckContext, EmptyScope, Severity, Threshold, check, tags_evidence

PUBLIC_GRANTEES = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}
PUBLIC_ACCESS_BLOCK_SETTINGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


# Trails as the scan saw them.
@dataclass(frozen=True)
class TrailView:
    """One trail merged across the regions that list it."""

    arn: str
    home_region: str
    description: dict[str, Any]
    status: dict[str, Any] | ReadError
    event_selectors: dict[str, Any] | ReadError
    # ListTags of the home region: a list, a ReadError, or None for a trail whose tags were not read
    # (another account's organization trail).
    tags: list[dict[str, Any]] | ReadError | None = None

    @property
    def name(self) -> str:
        return self.description.get("Name", self.arn.rsplit("/", 1)[-1])

    def is_logging(self) -> bool | None:
        """Return IsLogging, or None when the status could not be read."""
        if isinstance(self.status, ReadError):
            return None
        return self.status.get("IsLogging") is True

    def evidence(self) -> dict[str, Any]:
        return {
            "trail_arn": self.arn,
            "home_region": self.home_region,
            "is_multi_region_trail": self.description.get("IsMultiRegionTrail") is True,
            "is_organization_trail": self.description.get("IsOrganizationTrail") is True,
        }

    def trail_evidence(self) -> dict[str, Any]:
        """Evidence of a result about this trail itself: `evidence()` and the trail's tags."""
        return {**self.evidence(), **tags_evidence(self.tags)}


def _detail(
    details: dict[str, Any], key: str, operation: str, arn: str, home_region: str
) -> dict[str, Any] | ReadError:
    if key in details:
        return details[key]
    return ReadError(
        operation=operation,
        code="NotCollected",
        message=f"Trail {arn} was not read in its home region {home_region}, which holds its status "
        "and event selectors.",
    )


def _remote_details(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    try:
        return ctx.data.global_.get("cloudtrail.remote_trail_details")
    except DataUnavailable:
        return {}


def collect_trails(ctx: CheckContext) -> tuple[dict[str, TrailView], dict[str, ReadError]]:
    """Merge the trail lists of every scanned region into one view per trail ARN.

    Return the views by ARN and the regions whose trail list could not be read. Status and event
    selectors come from the copy listed in the trail's home region, the only copy the collector
    enriches, or else from the account-phase read of trails homed outside the scan. So the result does
    not depend on which region, or which order, listed the trail first.
    """
    remote = _remote_details(ctx)
    copies: dict[str, dict[str, Any]] = {}
    failed: dict[str, ReadError] = {}
    for region in ctx.data.region_names():
        try:
            trails = ctx.data.regions[region].get("cloudtrail.trails")
        except DataUnavailable as exc:
            failed[region] = exc.error
            continue
        for trail in trails:
            arn = trail["TrailARN"]
            if arn not in copies or "Status" in trail:
                copies[arn] = trail

    views: dict[str, TrailView] = {}
    for arn, trail in copies.items():
        home_region = trail.get("HomeRegion") or arn.split(":")[3]
        details = trail if "Status" in trail else remote.get(arn, {})
        views[arn] = TrailView(
            arn=arn,
            home_region=home_region,
            description=trail,
            status=_detail(details, "Status", "cloudtrail:GetTrailStatus", arn, home_region),
            event_selectors=_detail(
                details, "EventSelectors", "cloudtrail:GetEventSelectors", arn, home_region
            ),
            tags=details.get("Tags"),
        )
    return views, failed


def each_trail(ctx: CheckContext) -> Iterator[TrailView]:
    """Yield every trail once, in ARN order. Regions whose trail list failed get an UNKNOWN."""
    views, failed = collect_trails(ctx)
    for region, error in sorted(failed.items()):
        ctx.region_unknown(region, error)
    for arn in sorted(views):
        yield views[arn]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


# Event selectors.
def _read_only_coverage(field: dict[str, Any] | None) -> tuple[bool, bool]:
    """Return (reads, writes) that an advanced selector's readOnly field lets through."""
    if field is None:
        return True, True
    equals = {str(value).lower() for value in field.get("Equals", [])}
    not_equals = {str(value).lower() for value in field.get("NotEquals", [])}
    reads = (not equals or "true" in equals) and "true" not in not_equals
    writes = (not equals or "false" in equals) and "false" not in not_equals
    return reads, writes


def management_event_coverage(selectors: dict[str, Any]) -> tuple[bool, bool]:
    """Return whether the selectors record management read events and management write events.

    A trail has either basic or advanced selectors. Several selectors add up, so a ReadOnly selector
    and a WriteOnly one together cover both.
    """
    reads = writes = False
    advanced = selectors.get("AdvancedEventSelectors") or []
    if advanced:
        for selector in advanced:
            fields = {field.get("Field"): field for field in selector.get("FieldSelectors", [])}
            category = fields.get("eventCategory")
            if category is None or "Management" not in category.get("Equals", []):
                continue
            selector_reads, selector_writes = _read_only_coverage(fields.get("readOnly"))
            reads = reads or selector_reads
            writes = writes or selector_writes
        return reads, writes

    for selector in selectors.get("EventSelectors") or []:
        # AWS defaults: management events included, read and write.
        if selector.get("IncludeManagementEvents", True) is not True:
            continue
        read_write = selector.get("ReadWriteType", "All")
        reads = reads or read_write in ("All", "ReadOnly")
        writes = writes or read_write in ("All", "WriteOnly")
    return reads, writes


# Region and account level checks.
@check(
    id="cloudtrail_enabled",
    area=Area.MONITORING,
    title="CloudTrail logs every region",
    severity=Severity.HIGH,
    resource_type="region",
    decides="PASS when a trail visible in the region (its own, a multi-region trail homed elsewhere, or an "
    "organization trail) covers the region and is logging.",
    rationale="Without a logging trail, API calls in the region leave no record: nobody can tell who "
    "deleted a backup, a snapshot or a recovery point, or when.",
    console="CloudTrail console > Trails > Create trail: keep 'Enable for all accounts in my "
    "organization' or the multi-region default, choose an S3 bucket, create the trail, then check that "
    "its Status shows Logging.",
    cli="aws cloudtrail create-trail --name management-events --s3-bucket-name <bucket> "
    "--is-multi-region-trail && aws cloudtrail start-logging --name management-events",
    empty=EmptyScope.REGION,
)
def cloudtrail_enabled(ctx: CheckContext) -> None:
    views, _ = collect_trails(ctx)
    for region, inventory in ctx.regions("cloudtrail.trails"):
        covering = sorted(
            (
                views[trail["TrailARN"]]
                for trail in inventory.get("cloudtrail.trails")
                if trail.get("IsMultiRegionTrail") is True or trail.get("HomeRegion") == region
            ),
            key=lambda view: view.arn,
        )
        rows = []
        errors = []
        for view in covering:
            logging = view.is_logging()
            row = view.evidence()
            if logging is None:
                errors.append(view.status)
                row["status_error"] = view.status.code
            else:
                row["is_logging"] = logging
            rows.append(row)

        resource_id = ctx.region_resource_id(region)
        evidence = {"trails": rows}
        if any(row.get("is_logging") for row in rows):
            logging_arns = [row["trail_arn"] for row in rows if row.get("is_logging")]
            ctx.passed(
                region=region,
                resource_id=resource_id,
                evidence=evidence,
                reason=f"{len(logging_arns)} logging trail(s) cover {region}: {', '.join(logging_arns)}.",
            )
        elif errors:
            ctx.unknown(region=region, resource_id=resource_id, error=errors[0], evidence=evidence)
        elif not rows:
            ctx.failed(
                region=region, resource_id=resource_id, evidence=evidence, reason=f"No trail covers {region}."
            )
        else:
            ctx.failed(
                region=region,
                resource_id=resource_id,
                evidence=evidence,
                reason=f"{len(rows)} trail(s) cover {region} but none is logging.",
            )


@check(
    id="cloudtrail_multi_region",
    area=Area.MONITORING,
    title="A multi-region trail records all management events",
    severity=Severity.HIGH,
    resource_type="account",
    decides="PASS when at least one logging multi-region trail records management events for reads and "
    "writes (basic selectors: IncludeManagementEvents with ReadWriteType All; advanced selectors: a "
    "Management category selector without a readOnly filter; several selectors add up).",
    rationale="A multi-region trail also covers regions nobody watches and regions enabled later, where an "
    "attacker may act unseen; recording read events too shows reconnaissance before an attack on backups.",
    console="CloudTrail console > Trails > <trail> > General details > Edit: apply the trail to all "
    "regions; Management events > Edit: API activity Read and Write; make sure Logging is on.",
    cli="aws cloudtrail update-trail --name <trail> --is-multi-region-trail && aws cloudtrail "
    "put-event-selectors --trail-name <trail> --event-selectors "
    '\'[{"ReadWriteType":"All","IncludeManagementEvents":true}]\' && aws cloudtrail start-logging '
    "--name <trail>",
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_multi_region(ctx: CheckContext) -> None:
    views, failed = collect_trails(ctx)
    rows = []
    # A multi-region trail is listed in every region, so a region whose list failed hides none
    # unless every region failed.
    errors = [failed[region] for region in sorted(failed)] if not views else []
    qualifying = []
    for arn in sorted(views):
        view = views[arn]
        if view.description.get("IsMultiRegionTrail") is not True:
            continue
        row = view.evidence()
        logging = view.is_logging()
        if logging is None:
            errors.append(view.status)
            row["status_error"] = view.status.code
        else:
            row["is_logging"] = logging
        if isinstance(view.event_selectors, ReadError):
            errors.append(view.event_selectors)
            row["event_selectors_error"] = view.event_selectors.code
        else:
            reads, writes = management_event_coverage(view.event_selectors)
            row["management_reads"] = reads
            row["management_writes"] = writes
            if logging and reads and writes:
                qualifying.append(arn)
        rows.append(row)

    resource_id = ctx.region_resource_id(GLOBAL_REGION)
    evidence = {"multi_region_trails": rows, "regions_not_listed": sorted(failed)}
    if qualifying:
        ctx.passed(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            evidence=evidence,
            reason=f"Multi-region trail {qualifying[0]} is logging all management events.",
        )
    elif errors:
        ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=errors[0], evidence=evidence)
    elif not rows:
        ctx.failed(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            evidence=evidence,
            reason="The account has no multi-region trail.",
        )
    else:
        ctx.failed(
            region=GLOBAL_REGION,
            resource_id=resource_id,
            evidence=evidence,
            reason="No multi-region trail is both logging and recording management read and write events.",
        )


# Trail level checks.
@check(
    id="cloudtrail_log_file_validation",
    area=Area.MONITORING,
    title="Trails validate their log files",
    severity=Severity.MEDIUM,
    resource_type="trail",
    decides="PASS when the trail has LogFileValidationEnabled.",
    rationale="Digest files let an investigator prove that no log file was changed or deleted after "
    "delivery, which matters when the logs are the evidence of an attack on backups.",
    console="CloudTrail console > Trails > <trail> > General details > Edit > Additional settings: Log "
    "file validation Enabled.",
    cli="aws cloudtrail update-trail --name <trail-arn> --enable-log-file-validation",
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_log_file_validation(ctx: CheckContext) -> None:
    for view in each_trail(ctx):
        enabled = view.description.get("LogFileValidationEnabled") is True
        ctx.judge(
            enabled,
            region=view.home_region,
            resource_id=view.arn,
            pass_reason=f"Trail {view.name} validates its log files.",
            fail_reason=f"Trail {view.name} does not validate its log files.",
            evidence={**view.trail_evidence(), "LogFileValidationEnabled": enabled},
        )


@check(
    id="cloudtrail_cloudwatch_logs",
    area=Area.MONITORING,
    title="Trails deliver to CloudWatch Logs",
    severity=Severity.MEDIUM,
    resource_type="trail",
    decides="PASS when the trail has a CloudWatchLogsLogGroupArn and LatestCloudWatchLogsDeliveryTime is "
    "within the configured number of hours before the scan.",
    rationale="Events in CloudWatch Logs can raise alarms within minutes (for example on "
    "DeleteRecoveryPoint or StopLogging); logs only in S3 are read after the damage is done.",
    console="CloudTrail console > Trails > <trail> > CloudWatch Logs > Edit: Enabled, choose or create a "
    "log group and an IAM role that CloudTrail can assume.",
    cli="aws cloudtrail update-trail --name <trail-arn> --cloud-watch-logs-log-group-arn "
    "<log-group-arn> --cloud-watch-logs-role-arn <role-arn>",
    empty=EmptyScope.ACCOUNT,
    thresholds=[
        Threshold(
            "max_delivery_age_hours",
            24,
            "hours",
            "Longest time since CloudTrail last delivered events to CloudWatch Logs.",
        )
    ],
)
def cloudtrail_cloudwatch_logs(ctx: CheckContext) -> None:
    max_age_hours = ctx.threshold("max_delivery_age_hours")
    for view in each_trail(ctx):
        log_group = view.description.get("CloudWatchLogsLogGroupArn") or None
        evidence = {
            **view.trail_evidence(),
            "CloudWatchLogsLogGroupArn": log_group,
            "max_delivery_age_hours": max_age_hours,
        }
        common = {"region": view.home_region, "resource_id": view.arn}
        if log_group is None:
            ctx.failed(
                **common, evidence=evidence, reason=f"Trail {view.name} does not deliver to CloudWatch Logs."
            )
            continue
        if isinstance(view.status, ReadError):
            ctx.unknown(**common, error=view.status, evidence=evidence)
            continue

        delivered_at = view.status.get("LatestCloudWatchLogsDeliveryTime")
        evidence["LatestCloudWatchLogsDeliveryTime"] = _iso(delivered_at)
        if view.status.get("LatestCloudWatchLogsDeliveryError"):
            evidence["LatestCloudWatchLogsDeliveryError"] = view.status["LatestCloudWatchLogsDeliveryError"]
        if not isinstance(delivered_at, dt.datetime):
            ctx.failed(
                **common,
                evidence=evidence,
                reason=f"Trail {view.name} has log group {log_group} but never delivered to it.",
            )
            continue
        age = ctx.now - delivered_at
        ctx.judge(
            age <= dt.timedelta(hours=max_age_hours),
            **common,
            evidence=evidence,
            pass_reason=f"Trail {view.name} last delivered to CloudWatch Logs at "
            f"{delivered_at:%Y-%m-%d %H:%M} UTC.",
            fail_reason=f"Trail {view.name} last delivered to CloudWatch Logs "
            f"{age.total_seconds() / 3600:.0f} hours ago, more than {max_age_hours}.",
        )


@check(
    id="cloudtrail_kms_encryption",
    area=Area.CONFIGURATION,
    title="Trails encrypt their logs with KMS",
    severity=Severity.MEDIUM,
    resource_type="trail",
    decides="PASS when the trail has a KmsKeyId (SSE-KMS encryption of its log files).",
    rationale="With a KMS key, reading the logs needs kms:Decrypt as well as S3 access, and every use of "
    "the key is itself logged.",
    console="CloudTrail console > Trails > <trail> > General details > Edit: Log file SSE-KMS "
    "encryption Enabled, with a key whose policy lets CloudTrail use it.",
    cli="aws cloudtrail update-trail --name <trail-arn> --kms-key-id <kms-key-arn>",
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_kms_encryption(ctx: CheckContext) -> None:
    for view in each_trail(ctx):
        key_id = view.description.get("KmsKeyId") or None
        ctx.judge(
            key_id is not None,
            region=view.home_region,
            resource_id=view.arn,
            pass_reason=f"Trail {view.name} encrypts its logs with KMS key {key_id}.",
            fail_reason=f"Trail {view.name} does not encrypt its logs with a KMS key.",
            evidence={**view.trail_evidence(), "KmsKeyId": key_id},
        )


# Trail bucket checks.
def bucket_arn(ctx: CheckContext, bucket: str) -> str:
    return f"arn:{ctx.data.partition}:s3:::{bucket}"


def each_owned_trail_bucket(ctx: CheckContext) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Yield (resource id, bucket record, base evidence) for each trail bucket this account owns.

    Another account's bucket, or a bucket whose owner could not be determined, gets an UNKNOWN here.
    """
    _, failed = collect_trails(ctx)
    for region, error in sorted(failed.items()):
        ctx.region_unknown(region, error)
    buckets = ctx.data.global_.get("s3.trail_buckets")
    for name in sorted(buckets):
        record = buckets[name]
        resource_id = bucket_arn(ctx, name)
        evidence = {
            "bucket": name,
            "trail_arns": record.get("TrailARNs", []),
            **tags_evidence(record.get("Tags")),
        }
        owned = record.get("Owned")
        if isinstance(owned, ReadError):
            ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=owned, evidence=evidence)
        elif owned is not True:
            ctx.unknown(
                region=GLOBAL_REGION,
                resource_id=resource_id,
                evidence={**evidence, "owned_by_this_account": False},
                error=f"Bucket {name} belongs to another account, so its settings cannot be read from this "
                "one; judge it in the account that owns it.",
            )
        else:
            yield resource_id, record, evidence


@check(
    id="cloudtrail_bucket_access_logging",
    area=Area.MONITORING,
    title="Trail buckets have server access logging",
    severity=Severity.MEDIUM,
    resource_type="trail bucket",
    decides="PASS when S3 server access logging is on for the bucket a trail delivers to; UNKNOWN when "
    "the bucket belongs to another account.",
    rationale="Access logs of the trail bucket show who read or deleted the audit logs themselves.",
    console="S3 console > Buckets > <trail bucket> > Properties > Server access logging > Edit: Enable, "
    "with a target bucket other than the trail bucket.",
    cli="aws s3api put-bucket-logging --bucket <trail-bucket> --bucket-logging-status "
    '\'{"LoggingEnabled":{"TargetBucket":"<log-bucket>","TargetPrefix":"<trail-bucket>/"}}\'',
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_bucket_access_logging(ctx: CheckContext) -> None:
    for resource_id, record, evidence in each_owned_trail_bucket(ctx):
        logging = record.get("Logging")
        if isinstance(logging, ReadError):
            ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=logging, evidence=evidence)
            continue
        target = (logging or {}).get("LoggingEnabled")
        name = record["Name"]
        ctx.judge(
            bool(target),
            region=GLOBAL_REGION,
            resource_id=resource_id,
            pass_reason=f"Bucket {name} logs access to bucket {(target or {}).get('TargetBucket')}.",
            fail_reason=f"Bucket {name} has server access logging off.",
            evidence={**evidence, "LoggingEnabled": target or None},
        )


@check(
    id="cloudtrail_bucket_mfa_delete",
    area=Area.AUTHENTICATION,
    title="Trail buckets require MFA to delete versions",
    severity=Severity.MEDIUM,
    resource_type="trail bucket",
    decides="PASS when the trail bucket has versioning Enabled and MFADelete Enabled; UNKNOWN when the "
    "bucket belongs to another account.",
    rationale="With MFA delete, stolen keys alone cannot permanently delete log versions or turn "
    "versioning off to hide an attack.",
    console="The S3 console cannot turn on MFA delete: versioning is under S3 console > Buckets > <trail "
    "bucket> > Properties > Bucket Versioning; MFA delete needs the root user and the CLI command.",
    cli="aws s3api put-bucket-versioning --bucket <trail-bucket> --versioning-configuration "
    "Status=Enabled,MFADelete=Enabled --mfa 'arn:aws:iam::<account-id>:mfa/root-account-mfa-device "
    "<code>' (run with the root user's credentials)",
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_bucket_mfa_delete(ctx: CheckContext) -> None:
    for resource_id, record, evidence in each_owned_trail_bucket(ctx):
        versioning = record.get("Versioning")
        if isinstance(versioning, ReadError):
            ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=versioning, evidence=evidence)
            continue
        status = (versioning or {}).get("Status")
        mfa_delete = (versioning or {}).get("MFADelete")
        name = record["Name"]
        if status != "Enabled":
            fail_reason = f"Bucket {name} has versioning {status or 'never enabled'}, so MFA delete is off."
        else:
            fail_reason = f"Bucket {name} has versioning on but MFA delete off."
        ctx.judge(
            status == "Enabled" and mfa_delete == "Enabled",
            region=GLOBAL_REGION,
            resource_id=resource_id,
            pass_reason=f"Bucket {name} has versioning and MFA delete on.",
            fail_reason=fail_reason,
            evidence={**evidence, "Status": status, "MFADelete": mfa_delete},
        )


def _block_setting(
    setting: str, bucket_block: dict | ReadError | None, account_block: dict | ReadError | None
) -> bool | None:
    """Return whether the bucket or the account turns `setting` on, or None when a failed read hides it."""
    levels = [bucket_block, account_block]
    if any(isinstance(level, dict) and level.get(setting) is True for level in levels):
        return True
    if any(isinstance(level, ReadError) for level in levels):
        return None
    return False


@check(
    id="cloudtrail_bucket_not_public",
    area=Area.CONFIGURATION,
    title="Trail buckets are not public",
    severity=Severity.CRITICAL,
    resource_type="trail bucket",
    decides="PASS when the trail bucket's ACL grants nothing to AllUsers or AuthenticatedUsers, "
    "GetBucketPolicyStatus does not report the policy as public, and all four public access block "
    "settings are on at the bucket or the account level; UNKNOWN when the bucket belongs to another "
    "account.",
    rationale="Public trail logs tell an attacker which resources exist, who administers them and which "
    "alarms watch them.",
    console="S3 console > Buckets > <trail bucket> > Permissions: Block public access > Edit > Block all "
    "public access; remove AllUsers and AuthenticatedUsers grants from the ACL and public statements "
    "from the bucket policy.",
    cli="aws s3api put-public-access-block --bucket <trail-bucket> --public-access-block-configuration "
    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true && "
    "aws s3api put-bucket-acl --bucket <trail-bucket> --acl private",
    empty=EmptyScope.ACCOUNT,
)
def cloudtrail_bucket_not_public(ctx: CheckContext) -> None:
    try:
        account_block = ctx.data.global_.get("s3.account_public_access_block")
    except DataUnavailable as exc:
        account_block = exc.error

    for resource_id, record, evidence in each_owned_trail_bucket(ctx):
        problems: list[str] = []
        errors: list[ReadError] = []
        acl = record.get("Acl")
        policy_status = record.get("PolicyStatus")
        bucket_block = record.get("PublicAccessBlock")

        if isinstance(acl, ReadError):
            errors.append(acl)
        else:
            grants = [
                {"grantee": PUBLIC_GRANTEES[grant["Grantee"]["URI"]], "permission": grant.get("Permission")}
                for grant in (acl or {}).get("Grants", [])
                if grant.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES
            ]
            evidence["public_acl_grants"] = grants
            if grants:
                problems.append("its ACL grants access to " + ", ".join(g["grantee"] for g in grants))

        if isinstance(policy_status, ReadError):
            errors.append(policy_status)
        else:
            is_public = policy_status is not None and policy_status.get("IsPublic") is True
            evidence["has_bucket_policy"] = policy_status is not None
            evidence["policy_is_public"] = is_public
            if is_public:
                problems.append("its bucket policy is public")

        settings = {
            setting: _block_setting(setting, bucket_block, account_block)
            for setting in PUBLIC_ACCESS_BLOCK_SETTINGS
        }
        evidence["public_access_block"] = settings
        evidence["bucket_public_access_block"] = (
            bucket_block if not isinstance(bucket_block, ReadError) else None
        )
        evidence["account_public_access_block"] = (
            account_block if not isinstance(account_block, ReadError) else None
        )
        off = [setting for setting, value in settings.items() if value is False]
        if off:
            problems.append("public access block settings are off: " + ", ".join(off))
        if None in settings.values():
            errors.extend(level for level in (bucket_block, account_block) if isinstance(level, ReadError))

        name = record["Name"]
        if problems:
            ctx.failed(
                region=GLOBAL_REGION,
                resource_id=resource_id,
                evidence=evidence,
                reason=f"Bucket {name} may be public: {'; '.join(problems)}.",
            )
        elif errors:
            ctx.unknown(region=GLOBAL_REGION, resource_id=resource_id, error=errors[0], evidence=evidence)
        else:
            ctx.passed(
                region=GLOBAL_REGION,
                resource_id=resource_id,
                evidence=evidence,
                reason=f"Bucket {name} has no public grant or policy and blocks public access.",
            )
