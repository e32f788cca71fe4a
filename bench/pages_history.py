"""Simulated scan history for bench/pages_bench.py: accounts, their results, and a year of scans.

Import it after Django is set up. docs/benchmarks.md describes exactly what each phase writes.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from accounts.roles import VIEWER
from posture import engine, services
from posture.aws.inventory import GLOBAL_REGION
from posture.checks.base import CheckDefinition, EmptyScope, Result, Status, registry, ruleset_version
from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot
from posture.scoring import ResultRow, tally_account
from triage.coverage import (
    SETTLED_STATUSES,
    CoverageTarget,
    ExceptionIndex,
    coverage_apply,
    tags_from_evidence,
)

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
ENVIRONMENTS = ("production", "staging", "development", "log-archive")
VIEWER_USERNAME = "bench-viewer"
# Share of resources that fail, drawn per account and check: about a third of the checks pass on
# every resource of an account, others fail on a few resources and some fail widely. About a fifth
# of all results fail, so the findings list filtered on FAIL has more than 200 pages of 50.
CHECK_FAIL_RATES = (0.0, 0.0, 0.0, 0.02, 0.1, 0.3, 0.5, 0.8)
NOT_APPLICABLE_RATE = 0.01
# Relative number of resources per resource type; types not listed get 2.
RESOURCE_WEIGHTS = {
    "security group": 8,
    "volume": 6,
    "user": 5,
    "access key": 4,
    "image": 3,
    "DB instance": 2,
    "DB instance or cluster": 2,
    "listener": 2,
    "load balancer": 2,
    "SSH key": 2,
    "default security group": 1,
    "VPC": 1,
    "group": 1,
    "trail": 1,
    "trail bucket": 1,
    "cluster": 1,
}
CHECK_COUNT_FIELDS = {
    Status.PASS: "passed",
    Status.FAIL: "failed",
    Status.UNKNOWN: "unknown",
    Status.NOT_APPLICABLE: "not_applicable",
}
# Fields of a finding that a flip loads and writes back: those findings_sync loads and writes when a
# status changes, except the ones the benchmark never changes (resource type, area, severity, thresholds).
FLIP_LOADED_FIELDS = (
    "id",
    "check_id",
    "region",
    "resource_id",
    "status",
    "status_changed_at",
    "triage_state",
    "exception",
    "tags",
)
FLIP_WRITTEN_FIELDS = [
    "status",
    "status_changed_at",
    "reason",
    "evidence",
    "tags",
    "last_seen_at",
    "last_scan",
    "triage_state",
    "exception",
]
GONE_COMMENT = "The resource was not listed by this scan: it was deleted or is out of scope."


@dataclass
class AccountState:
    """One simulated account: its current results, as its next scan would return them."""

    account: Account
    results: list[Result]
    fail_rates: dict[str, float]
    # Primary key of the Finding of each current result, by (region, check id, resource id).
    finding_pks: dict[tuple[str, str, str], int] = field(default_factory=dict)
    next_resource: int = 0


@dataclass
class BuildStats:
    scans: int = 0
    findings_changed: int = 0
    findings_created: int = 0
    findings_retired: int = 0
    account_scans_failed: int = 0
    seconds: float = 0.0


class HistoryBuilder:
    """Writes scans of simulated accounts: the first through the scan services, the rest in bulk.

    Every account has `resources` results per scan across the registered checks. Between two scans
    `changes` results per account flip between FAIL and PASS and `turnover` resources
    are deleted and as many created. Every `failure_every`-th scan one account cannot be scanned.
    """

    def __init__(
        self,
        *,
        accounts: int,
        scans: int,
        resources: int,
        changes: int = 10,
        turnover: int = 2,
        failure_every: int = 30,
        seed: int = 20261204,
        end: dt.datetime | None = None,
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.accounts = accounts
        self.scans = scans
        self.resources = resources
        self.changes = changes
        self.turnover = turnover
        self.failure_every = failure_every
        self.random = random.Random(seed)
        self.progress = progress
        end = end or timezone.now()
        self.first_scanned_at = end.replace(hour=3, minute=0, second=0, microsecond=0) - dt.timedelta(
            days=scans - 1
        )
        self.thresholds = services.effective_thresholds()
        # The first half of the history ran an older ruleset, so the chart shows a version change.
        self.previous_thresholds = _thresholds_changed(self.thresholds)
        self.ruleset = ruleset_version(self.thresholds)
        self.previous_ruleset = ruleset_version(self.previous_thresholds)
        self.states: list[AccountState] = []
        self.scan_index = 0
        self.stats = BuildStats()
        self._plan = self._results_plan()

    # Results.
    def _results_plan(self) -> list[tuple[CheckDefinition, str]]:
        """Return (check definition, region) for the resources of one account, `resources` long."""
        definitions = sorted(registry().values(), key=lambda d: d.id)
        fixed: list[tuple[CheckDefinition, str]] = []
        for definition in definitions:
            if definition.resource_type == "account":
                fixed.append((definition, GLOBAL_REGION))
            elif definition.resource_type == "region":
                fixed.extend((definition, region) for region in REGIONS)
        if self.resources < len(fixed):
            raise SystemExit(
                f"--resources={self.resources} is too small: every account needs at least {len(fixed)} "
                "(one result per account-wide check and per region for region-wide checks)."
            )
        self.spread = [d for d in definitions if d.resource_type not in ("account", "region")]
        self.spread_weights = [RESOURCE_WEIGHTS.get(d.resource_type, 2) for d in self.spread]
        plan = list(fixed)
        for definition in self.random.choices(
            self.spread, weights=self.spread_weights, k=self.resources - len(fixed)
        ):
            plan.append((definition, self._region_for(definition)))
        return plan

    def _region_for(self, definition: CheckDefinition) -> str:
        return GLOBAL_REGION if definition.empty == EmptyScope.ACCOUNT else self.random.choice(REGIONS)

    def _status(self, state: AccountState, check_id: str) -> Status:
        draw = self.random.random()
        if draw < NOT_APPLICABLE_RATE:
            return Status.NOT_APPLICABLE
        return Status.FAIL if self.random.random() < state.fail_rates[check_id] else Status.PASS

    def _result(
        self, state: AccountState, definition: CheckDefinition, region: str, status: Status | None = None
    ) -> Result:
        state.next_resource += 1
        account_id = state.account.account_id
        kind = definition.resource_type.replace(" ", "-").lower()
        service = definition.id.split("_")[0]
        arn_region = "" if region == GLOBAL_REGION else region
        if definition.resource_type in ("account", "region"):
            resource_id = f"arn:aws:iam::{account_id}:root" if region == GLOBAL_REGION else region
        else:
            resource_id = (
                f"arn:aws:{service}:{arn_region}:{account_id}:{kind}/{kind}-{state.next_resource:010x}"
            )
        status = status or self._status(state, definition.id)
        return Result(
            check_id=definition.id,
            region=region,
            resource_id=resource_id,
            resource_type=definition.resource_type,
            status=status,
            reason=_reason(definition.title, status),
            evidence=_evidence(definition.id, status),
        )

    def _account_states(self) -> list[AccountState]:
        accounts = Account.objects.bulk_create(
            [
                Account(
                    account_id=f"{200000000000 + index:012d}",
                    name=f"bench-{index:03d}",
                    role_arn=f"arn:aws:iam::{200000000000 + index:012d}:role/BackupPostureReadOnly",
                    external_id="bench-external-id",
                    regions=list(REGIONS),
                    environment=ENVIRONMENTS[index % len(ENVIRONMENTS)],
                )
                for index in range(self.accounts)
            ]
        )
        states = []
        for account in accounts:
            state = AccountState(
                account=account,
                results=[],
                fail_rates={check_id: self.random.choice(CHECK_FAIL_RATES) for check_id in registry()},
            )
            state.results = [self._result(state, definition, region) for definition, region in self._plan]
            states.append(state)
        return states

    def _mutate(self, state: AccountState) -> tuple[list[Result], list[Result], list[Result]]:
        """Apply one scan's changes to `state`; return (flipped, created, retired) results.

        Flipped results keep their identity and change status; created ones are new resources;
        retired ones were removed from `state.results`.
        """
        flipped = []
        # As many fixes as regressions, except one more fix every tenth scan: failures drift down
        # slowly (about a fifth over a year of daily scans) and the trend improves.
        fixes = self.changes // 2
        if self.scan_index % 10 == 0 and fixes < self.changes:
            fixes += 1
        for wanted, new_status in ((Status.FAIL, Status.PASS), (Status.PASS, Status.FAIL)):
            count = fixes if wanted == Status.FAIL else self.changes - fixes
            for _ in range(count):
                # Bounded tries: an account with few failing results simply gets fewer fixes.
                for _ in range(50):
                    candidate = self.random.choice(state.results)
                    if candidate.status == wanted and candidate not in flipped:
                        candidate.status = new_status
                        candidate.reason = _reason_for(candidate.check_id, new_status)
                        candidate.evidence = _evidence(candidate.check_id, new_status)
                        flipped.append(candidate)
                        break

        retired = []
        spread_ids = {d.id for d in self.spread}
        for _ in range(self.turnover):
            for _ in range(50):
                index = self.random.randrange(len(state.results))
                candidate = state.results[index]
                if candidate.check_id in spread_ids and candidate not in flipped:
                    state.results[index] = state.results[-1]
                    state.results.pop()
                    retired.append(candidate)
                    break

        created = []
        for definition in self.random.choices(self.spread, weights=self.spread_weights, k=len(retired)):
            created.append(self._result(state, definition, self._region_for(definition)))
        state.results.extend(created)
        return flipped, created, retired

    # Scans.
    def _scan_create(self) -> Scan:
        index = self.scan_index
        older = index < self.scans // 2
        scanned_at = self.first_scanned_at + dt.timedelta(days=index)
        self.scan_index += 1
        self.stats.scans += 1
        return Scan.objects.create(
            trigger=Scan.Trigger.SCHEDULE,
            state=Scan.State.RUNNING,
            ruleset_version=self.previous_ruleset if older else self.ruleset,
            thresholds=self.previous_thresholds if older else self.thresholds,
            scanned_at=scanned_at,
            started_at=scanned_at,
            note="Benchmark history: simulated accounts and dates.",
        )

    def scan_through_services(self) -> Scan:
        """Store one scan of every account exactly as a scan does once the engine has returned its results.

        Each account's results go through the same store step as a real account scan (findings
        sync with events, check counts, account state), then the scan is closed, which writes the
        score snapshots.
        """
        if not self.states:
            self.states = self._account_states()
        with transaction.atomic():
            scan = self._scan_create()
            account_scans = AccountScan.objects.bulk_create(
                [
                    AccountScan(
                        scan=scan,
                        account=state.account,
                        state=AccountScan.State.RUNNING,
                        started_at=scan.scanned_at,
                    )
                    for state in self.states
                ]
            )
            for state, account_scan in zip(self.states, account_scans, strict=True):
                outcome = engine.AccountOutcome(
                    regions=list(REGIONS),
                    skipped_regions=[],
                    results=list(state.results),
                    listed=_listed(state.results),
                )
                services._account_scan_store(account_scan, outcome)
            services.scan_finish_if_done(scan_id=scan.pk)

        for state in self.states:
            state.finding_pks = {
                (region, check_id, resource_id): pk
                for pk, region, check_id, resource_id in Finding.objects.filter(
                    account=state.account, is_current=True
                ).values_list("pk", "region", "check_id", "resource_id")
            }
        scan.refresh_from_db()
        return scan

    def scan_in_bulk(self) -> Scan:
        """Store one scan of every account with a few bulk statements, without the full findings sync.

        Findings change only where a result changed. A flipped result's finding gets its new
        status, reason, evidence, tags, status_changed_at, last_seen_at and last_scan, a status
        event, and the triage state and events of triage.coverage.coverage_apply, written by the
        services' own executemany. A new resource gets a Finding as findings_sync creates it and an
        OPENED event; a deleted one gets is_current=False and a GONE event. Check counts and score
        snapshots are tallied from the results as the services tally them. Unchanged findings keep
        their last_seen_at and last_scan until `_last_seen_store`.
        """
        definitions = registry()
        failed_index = self._failed_account_index()
        now = timezone.now()
        with transaction.atomic():
            scan = self._scan_create()
            when = scan.scanned_at
            # Per flipped finding's primary key: its account, its new result and its old status.
            flips: dict[int, tuple[Account, Result, Status]] = {}
            to_create: list[tuple[AccountState, Finding]] = []
            events: list[FindingEvent] = []
            retired_pks: list[int] = []
            account_scans: list[AccountScan] = []
            check_counts: list[CheckCount] = []
            snapshots: list[ScoreSnapshot] = []
            for index, state in enumerate(self.states):
                if index == failed_index:
                    account_scans.append(_account_scan_failed(scan, state.account))
                    snapshots.extend(_snapshots_failed(scan, state.account, definitions))
                    self.stats.account_scans_failed += 1
                    continue
                flipped, created, retired = self._mutate(state)
                for result in flipped:
                    pk = state.finding_pks[(result.region, result.check_id, result.resource_id)]
                    old_status = Status.PASS if result.status == Status.FAIL else Status.FAIL
                    flips[pk] = (state.account, result, old_status)
                for result in retired:
                    pk = state.finding_pks.pop((result.region, result.check_id, result.resource_id))
                    retired_pks.append(pk)
                    events.append(
                        FindingEvent(
                            finding_id=pk,
                            scan=scan,
                            kind=FindingEvent.Kind.GONE,
                            old_status=result.status,
                            created_at=when,
                            comment=GONE_COMMENT,
                        )
                    )
                for result in created:
                    finding = _finding_new(scan, state.account, result, definitions[result.check_id])
                    to_create.append((state, finding))
                check_counts.extend(check_count_rows(scan, state.account, state.results))
                account_scans.append(_account_scan_done(scan, state.account, state.results))
                snapshots.extend(snapshot_rows(scan, state.account, state.results, definitions))
                self.stats.findings_changed += len(flipped)
                self.stats.findings_created += len(created)
                self.stats.findings_retired += len(retired)

            # No exception exists in the benchmark, so the index is empty, but coverage_apply still
            # resolves and reopens findings as a scan does.
            coverage = ExceptionIndex.load(now=now)
            events.extend(self._flips_store(scan, flips, coverage, now=now))
            Finding.objects.bulk_create([finding for _, finding in to_create], batch_size=1000)
            for state, finding in to_create:
                state.finding_pks[(finding.region, finding.check_id, finding.resource_id)] = finding.pk
                events.append(
                    FindingEvent(
                        finding=finding,
                        scan=scan,
                        kind=FindingEvent.Kind.OPENED,
                        new_status=finding.status,
                        field="status",
                        new_value=finding.status,
                        created_at=when,
                    )
                )
            events.extend(
                coverage_apply(
                    [CoverageTarget(finding, state.account.account_id) for state, finding in to_create],
                    index=coverage,
                    now=now,
                    when=when,
                    scan=scan,
                )
            )
            Finding.objects.filter(pk__in=retired_pks).update(is_current=False)
            FindingEvent.objects.bulk_create(events, batch_size=1000)
            AccountScan.objects.bulk_create(account_scans)
            CheckCount.objects.bulk_create(check_counts, batch_size=1000)
            ScoreSnapshot.objects.bulk_create(snapshots, batch_size=1000)
            scan.state = Scan.State.COMPLETED if failed_index is None else Scan.State.PARTIAL
            scan.finished_at = when + dt.timedelta(minutes=20)
            scan.save(update_fields=["state", "finished_at"])
        return scan

    def _flips_store(
        self,
        scan: Scan,
        flips: dict[int, tuple[Account, Result, Status]],
        coverage: ExceptionIndex,
        *,
        now: dt.datetime,
    ) -> list[FindingEvent]:
        """Write the flipped findings as findings_sync writes them; return their events."""
        when = scan.scanned_at
        findings = list(Finding.objects.filter(pk__in=list(flips)).only(*FLIP_LOADED_FIELDS))
        events: list[FindingEvent] = []
        targets: list[CoverageTarget] = []
        for finding in findings:
            account, result, old_status = flips[finding.pk]
            events.append(
                FindingEvent(
                    finding=finding,
                    scan=scan,
                    kind=services._event_kind(old_status, result.status),
                    old_status=old_status,
                    new_status=result.status,
                    field="status",
                    old_value=old_status,
                    new_value=result.status,
                    created_at=when,
                )
            )
            finding.status = result.status
            finding.status_changed_at = when
            finding.reason = result.reason
            finding.evidence = result.evidence
            finding.tags = tags_from_evidence(result.evidence)
            finding.last_seen_at = when
            finding.last_scan = scan
            targets.append(CoverageTarget(finding, account.account_id, old_status))
        events.extend(coverage_apply(targets, index=coverage, now=now, when=when, scan=scan))
        services._findings_write(findings, FLIP_WRITTEN_FIELDS)
        return events

    def _failed_account_index(self) -> int | None:
        if not self.failure_every or self.scan_index % self.failure_every != self.failure_every // 2:
            return None
        return (self.scan_index // self.failure_every) % len(self.states)

    # Phases.
    def build_first(self) -> None:
        """Store the first scan of every account through the scan services."""
        started = time.monotonic()
        self.scan_through_services()
        self.stats.seconds += time.monotonic() - started

    def build_history(self) -> None:
        """Store the scans after the first in bulk, then mark current findings as seen by the last one."""
        started = time.monotonic()
        scan = None
        while self.scan_index < self.scans:
            scan = self.scan_in_bulk()
            if self.scan_index % 30 == 0:
                self.progress(f"  {self.scan_index} of {self.scans} scans stored")
        if scan is not None:
            self._last_seen_store(scan)
        self.stats.seconds += time.monotonic() - started

    def _last_seen_store(self, scan: Scan) -> None:
        """Set last_seen_at and last_scan of every current finding the scan listed, as findings_sync does.

        After this, the latest scan's findings are exactly the ones a scan through the services would
        have left: posture.services.snapshots_write on it writes the snapshots stored in bulk.
        """
        scanned = AccountScan.objects.filter(scan=scan).exclude(state=AccountScan.State.FAILED)
        Finding.objects.filter(account__in=scanned.values("account"), is_current=True).update(
            last_seen_at=scan.scanned_at, last_scan=scan
        )


def _thresholds_changed(thresholds: dict[str, dict]) -> dict[str, dict]:
    """Return a copy of `thresholds` with the first numeric threshold raised by one."""
    changed = {check_id: dict(values) for check_id, values in thresholds.items()}
    for values in changed.values():
        for name, value in values.items():
            if isinstance(value, int) and not isinstance(value, bool):
                values[name] = value + 1
                return changed
    return changed


_REASONS: dict[tuple[str, str], str] = {}
_EVIDENCE: dict[tuple[str, str], dict] = {}


def _reason(title: str, status: Status) -> str:
    return f"{title}: {status.label.lower()} for this resource in the benchmark history."


def _reason_for(check_id: str, status: Status) -> str:
    key = (check_id, status)
    if key not in _REASONS:
        _REASONS[key] = _reason(registry()[check_id].title, status)
    return _REASONS[key]


def _evidence(check_id: str, status: Status) -> dict:
    """Evidence of a typical size; one shared dict per (check, status), because nothing mutates it."""
    key = (check_id, str(status))
    if key not in _EVIDENCE:
        _EVIDENCE[key] = {
            "check": check_id,
            "observed": {"setting": "enabled" if status == "PASS" else "disabled", "age_days": 42},
            "source": "benchmark history",
        }
    return _EVIDENCE[key]


def _listed(results: list[Result]) -> dict[str, dict[str, int]]:
    counts = Counter(result.region for result in results)
    return {region: {"bench.resources": count} for region, count in sorted(counts.items())}


def _finding_new(scan: Scan, account: Account, result: Result, definition: CheckDefinition) -> Finding:
    return Finding(
        account=account,
        region=result.region,
        check_id=result.check_id,
        resource_id=result.resource_id,
        resource_type=result.resource_type,
        area=definition.area,
        severity=definition.severity,
        status=result.status,
        reason=result.reason,
        evidence=result.evidence,
        thresholds=scan.thresholds.get(result.check_id, {}),
        first_seen_at=scan.scanned_at,
        last_seen_at=scan.scanned_at,
        status_changed_at=scan.scanned_at,
        last_scan=scan,
        tags=tags_from_evidence(result.evidence),
        triage_state=(
            Finding.TriageState.RESOLVED if result.status in SETTLED_STATUSES else Finding.TriageState.OPEN
        ),
    )


def _account_scan_done(scan: Scan, account: Account, results: list[Result]) -> AccountScan:
    counts = {status.value: 0 for status in Status}
    for result in results:
        counts[result.status] += 1
    return AccountScan(
        scan=scan,
        account=account,
        state=AccountScan.State.COMPLETED,
        started_at=scan.scanned_at,
        finished_at=scan.scanned_at + dt.timedelta(minutes=15),
        regions=list(REGIONS),
        regions_done=len(REGIONS),
        checks_done=len(registry()),
        counts=counts,
        listed=_listed(results),
    )


def _account_scan_failed(scan: Scan, account: Account) -> AccountScan:
    return AccountScan(
        scan=scan,
        account=account,
        state=AccountScan.State.FAILED,
        started_at=scan.scanned_at,
        finished_at=scan.scanned_at + dt.timedelta(seconds=3),
        error_code="AccessDenied",
        error_message="User is not authorized to perform: sts:AssumeRole (benchmark history)",
    )


def _snapshots_failed(
    scan: Scan, account: Account, definitions: dict[str, CheckDefinition]
) -> list[ScoreSnapshot]:
    """Snapshots of an account that could not be scanned, as posture.services.snapshots_write writes them."""
    checks_per_area: Counter[str] = Counter(d.area for d in definitions.values())
    previous = dict(
        ScoreSnapshot.objects.filter(account=account, scanned_at__lt=scan.scanned_at)
        .order_by("area", "-scanned_at")
        .values_list("area", "results_expected")
    )
    return [
        ScoreSnapshot(
            scan=scan,
            account=account,
            area=area,
            scanned_at=scan.scanned_at,
            ruleset_version=scan.ruleset_version,
            numerator=0,
            raw_numerator=0,
            denominator=0,
            results_expected=max(count, previous.get(area, 0)),
            results_decided=0,
        )
        for area, count in checks_per_area.items()
    ]


def check_count_rows(scan: Scan, account: Account, results: list[Result]) -> list[CheckCount]:
    """Check counts of one scanned account: the rows posture.services._check_counts_store writes.

    Counted with a Counter, because that function builds a model instance per result, which costs
    seconds per scan of 100,000 results.
    """
    counted = Counter((result.check_id, result.status) for result in results)
    rows: dict[str, CheckCount] = {}
    for (check_id, status), count in counted.items():
        row = rows.setdefault(check_id, CheckCount(scan=scan, account=account, check_id=check_id))
        name = CHECK_COUNT_FIELDS[status]
        setattr(row, name, getattr(row, name) + count)
    return list(rows.values())


def snapshot_rows(
    scan: Scan, account: Account, results: list[Result], definitions: dict[str, CheckDefinition]
) -> list[ScoreSnapshot]:
    """Score snapshots of one scanned account: its results tallied as snapshots_write tallies findings."""
    rows = [ResultRow(check_id=result.check_id, status=result.status) for result in results]
    return [
        services.snapshot_build(scan=scan, account=account, area=area, tally=tally)
        for area, tally in tally_account(rows, definitions).items()
    ]


def viewer_create() -> User:
    """Create the user the pages are requested as: a member of the viewer group only."""
    user, _ = User.objects.get_or_create(username=VIEWER_USERNAME)
    group, _ = Group.objects.get_or_create(name=VIEWER)
    user.groups.add(group)
    return user
