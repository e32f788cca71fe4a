"""The check registry and the context a check writes its results into.

A check is a plain function registered with `@check(...)`. It receives a `CheckContext` holding one
account's collected data (`ctx.data`), the thresholds in force and the scan time, and records one
result per resource with `ctx.passed`, `ctx.failed`, `ctx.unknown` or `ctx.not_applicable`. Checks
never call AWS, so they are tested with plain data.

Contracts the runner enforces, so each check does not have to:
- a `DataUnavailable` raised by `ctx.data...get(key)` becomes UNKNOWN with the AWS error code, for the
  region it was raised in (the results already recorded for other regions are kept);
- any other exception becomes one UNKNOWN result naming the exception;
- a check whose `empty` scope got no result at all in a region (or, for account scope, at all) gets
  one NOT_APPLICABLE result there, so coverage shows that it ran.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from posture.aws.inventory import GLOBAL_REGION, AccountData, DataUnavailable, Inventory, ReadError


class Status(models.TextChoices):
    PASS = "PASS", "Pass"
    FAIL = "FAIL", "Fail"
    UNKNOWN = "UNKNOWN", "Unknown"
    NOT_APPLICABLE = "NOT_APPLICABLE", "Not applicable"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


SEVERITY_WEIGHTS = {
    Severity.CRITICAL: 8,
    Severity.HIGH: 4,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
}


class Area(models.TextChoices):
    MONITORING = "monitoring", "Security monitoring"
    AUTHENTICATION = "authentication", "Secure authentication"
    CONFIGURATION = "configuration", "Secure configuration"
    INACTIVE = "inactive", "Inactive entities"
    ACCESS = "access", "Access restrictions"


class EmptyScope(models.TextChoices):
    """Scope of the NOT_APPLICABLE result of a check with nothing to judge."""

    REGION = "region", "Each enabled region"
    ACCOUNT = "account", "Once per account"


@dataclass(frozen=True)
class Threshold:
    """A tunable value of a check, with its default and unit (days, ports, count, prefix length...)."""

    name: str
    default: Any
    unit: str
    description: str


@dataclass(frozen=True)
class Remediation:
    console: str
    cli: str


@dataclass(frozen=True)
class CheckDefinition:
    id: str
    area: Area
    title: str
    severity: Severity
    resource_type: str
    decides: str
    rationale: str
    remediation: Remediation
    empty: EmptyScope
    func: Callable[[CheckContext], None]
    thresholds: tuple[Threshold, ...] = ()

    @property
    def weight(self) -> int:
        return SEVERITY_WEIGHTS[self.severity]

    def default_thresholds(self) -> dict[str, Any]:
        return {t.name: t.default for t in self.thresholds}


def tags_evidence(tags: Any) -> dict[str, Any]:
    """Return the evidence entries for a resource's AWS tags, given its record's `Tags` or `TagList`.

    Every check puts tags in one shape: AWS's own list under `Tags`, sorted by key so that the
    evidence does not change with listing order. `posture.services.tags_from_evidence` reads that
    shape into `Finding.tags`, which tag-scoped exception rules match. A resource without tags gets
    no entry. A failed tag read (a `ReadError`) gets `tags_error` instead, so the evidence shows why
    no tag rule matched, and the verdict stays as it is.
    """
    if isinstance(tags, ReadError):
        return {"tags_error": tags.as_dict()}
    if not isinstance(tags, list):
        return {}
    pairs = {
        item["Key"]: item.get("Value") if isinstance(item.get("Value"), str) else ""
        for item in tags
        if isinstance(item, dict) and isinstance(item.get("Key"), str)
    }
    if not pairs:
        return {}
    return {"Tags": [{"Key": key, "Value": pairs[key]} for key in sorted(pairs)]}


@dataclass
class Result:
    check_id: str
    region: str
    resource_id: str
    resource_type: str
    status: Status
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


class CheckContext:
    """The data of one account given to one check, and the list its results go into."""

    def __init__(
        self,
        definition: CheckDefinition,
        data: AccountData,
        *,
        thresholds: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        self.definition = definition
        self.data = data
        self.thresholds = thresholds
        self.now = now
        self.results: list[Result] = []

    @property
    def account_id(self) -> str:
        return self.data.account_id

    # Recording results.
    def _record(
        self,
        status: Status,
        *,
        region: str,
        resource_id: str,
        reason: str,
        evidence: dict[str, Any] | None,
        resource_type: str | None,
    ) -> None:
        self.results.append(
            Result(
                check_id=self.definition.id,
                region=region,
                resource_id=resource_id,
                resource_type=resource_type or self.definition.resource_type,
                status=status,
                reason=reason,
                evidence=dict(evidence or {}),
            )
        )

    def passed(
        self,
        *,
        region: str,
        resource_id: str,
        reason: str,
        evidence: dict | None = None,
        resource_type: str | None = None,
    ) -> None:
        self._record(
            Status.PASS,
            region=region,
            resource_id=resource_id,
            reason=reason,
            evidence=evidence,
            resource_type=resource_type,
        )

    def failed(
        self,
        *,
        region: str,
        resource_id: str,
        reason: str,
        evidence: dict | None = None,
        resource_type: str | None = None,
    ) -> None:
        self._record(
            Status.FAIL,
            region=region,
            resource_id=resource_id,
            reason=reason,
            evidence=evidence,
            resource_type=resource_type,
        )

    def unknown(
        self,
        *,
        region: str,
        resource_id: str,
        error: ReadError | str,
        evidence: dict | None = None,
        resource_type: str | None = None,
    ) -> None:
        if isinstance(error, ReadError):
            reason = error.describe()
            evidence = {**(evidence or {}), "error": error.as_dict()}
        else:
            reason = error
        self._record(
            Status.UNKNOWN,
            region=region,
            resource_id=resource_id,
            reason=reason,
            evidence=evidence,
            resource_type=resource_type,
        )

    def not_applicable(
        self,
        *,
        region: str,
        resource_id: str,
        reason: str,
        evidence: dict | None = None,
        resource_type: str | None = None,
    ) -> None:
        self._record(
            Status.NOT_APPLICABLE,
            region=region,
            resource_id=resource_id,
            reason=reason,
            evidence=evidence,
            resource_type=resource_type,
        )

    def judge(
        self,
        ok: bool,
        *,
        region: str,
        resource_id: str,
        pass_reason: str,
        fail_reason: str,
        evidence: dict | None = None,
        resource_type: str | None = None,
    ) -> None:
        """Record PASS or FAIL depending on `ok`."""
        if ok:
            self.passed(
                region=region,
                resource_id=resource_id,
                reason=pass_reason,
                evidence=evidence,
                resource_type=resource_type,
            )
        else:
            self.failed(
                region=region,
                resource_id=resource_id,
                reason=fail_reason,
                evidence=evidence,
                resource_type=resource_type,
            )

    # Reading data.
    def regions(self, *keys: str) -> Iterator[tuple[str, Inventory]]:
        """Yield (region, inventory) for every scanned region, in sorted order.

        When one of `keys` could not be read in a region, that region yields nothing and gets one
        UNKNOWN result naming the AWS error instead.
        """
        for region in self.data.region_names():
            inventory = self.data.regions[region]
            try:
                for key in keys:
                    inventory.get(key)
            except DataUnavailable as exc:
                self.region_unknown(region, exc.error)
                continue
            yield region, inventory

    def region_unknown(self, region: str, error: ReadError) -> None:
        self.unknown(
            region=region, resource_id=self.region_resource_id(region), error=error, resource_type="region"
        )

    def region_resource_id(self, region: str) -> str:
        """Identity of an account-and-region level result (an ARN-like stable string)."""
        if region == GLOBAL_REGION:
            return f"arn:{self.data.partition}::{self.account_id}:account"
        return f"arn:{self.data.partition}::{self.account_id}:account/{region}"

    def threshold(self, name: str) -> Any:
        return self.thresholds[name]


# The registry.
_REGISTRY: dict[str, CheckDefinition] = {}


def check(
    *,
    id: str,  # noqa: A002 - the field is called id everywhere in the product
    area: Area,
    title: str,
    severity: Severity,
    resource_type: str,
    decides: str,
    rationale: str,
    console: str,
    cli: str,
    empty: EmptyScope = EmptyScope.REGION,
    thresholds: Iterable[Threshold] = (),
) -> Callable[[Callable[[CheckContext], None]], Callable[[CheckContext], None]]:
    """Register a check function with its metadata."""

    def register(func: Callable[[CheckContext], None]) -> Callable[[CheckContext], None]:
        if id in _REGISTRY:
            raise ValueError(f"Check id {id!r} is registered twice.")
        _REGISTRY[id] = CheckDefinition(
            id=id,
            area=area,
            title=title,
            severity=severity,
            resource_type=resource_type,
            decides=decides,
            rationale=rationale,
            remediation=Remediation(console=console, cli=cli),
            empty=empty,
            func=func,
            thresholds=tuple(thresholds),
        )
        return func

    return register


def registry() -> dict[str, CheckDefinition]:
    """Return every registered check by id, importing the check modules on first use."""
    from posture import checks  # noqa: F401 - importing registers the checks

    return dict(sorted(_REGISTRY.items()))


def get_check(check_id: str) -> CheckDefinition:
    return registry()[check_id]


def ruleset_version(thresholds: dict[str, dict[str, Any]] | None = None) -> str:
    """Return a short fingerprint of the checks, their severities and the thresholds in force.

    Two scans with the same version judged the same way, so their scores are comparable.
    """
    definitions = registry()
    thresholds = thresholds or {cid: d.default_thresholds() for cid, d in definitions.items()}
    payload = [
        [cid, d.area, d.severity, SEVERITY_WEIGHTS[d.severity], thresholds.get(cid, {})]
        for cid, d in definitions.items()
    ]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:12]
