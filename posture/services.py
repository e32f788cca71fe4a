"""Writes of the scan lifecycle: start a scan, run one account of it, store findings, finish it.

State machine of a scan and of each account within it: queued -> running -> completed, partial
(some results UNKNOWN or some reads failed) or failed (the account could not be scanned). A scan is
completed when every account completed, failed when every account failed, and partial otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from posture import engine
from posture.aws.inventory import GLOBAL_REGION
from posture.checks.base import Result, Status, registry, ruleset_version
from posture.models import AccountScan, CheckCount, Finding, FindingEvent, Scan, ScoreSnapshot
from posture.scoring import AreaTally, ResultRow, exception_lapses, tally_account
from triage.coverage import (
    SETTLED_STATUSES,
    CoverageTarget,
    ExceptionIndex,
    coverage_apply,
    tags_from_evidence,
)
from triage.models import FindingException

logger = logging.getLogger(__name__)

UPDATE_BATCH = 500


class NoAccountsToScan(Exception):
    pass


def effective_thresholds() -> dict[str, dict]:
    """Thresholds in force per check id: each check's defaults (stored with every scan)."""
    return {check_id: d.default_thresholds() for check_id, d in registry().items()}


def scan_start(
    *,
    trigger: str,
    accounts: Iterable[Account] | None = None,
    requested_by=None,
    scanned_at: dt.datetime | None = None,
    note: str = "",
) -> Scan:
    """Create a scan of `accounts` (default: every enabled account) and queue one task per account.

    The tasks are queued after the transaction commits, so a worker never reads a missing row.
    """
    from posture.tasks import scan_account

    enabled = list(Account.objects.enabled())
    accounts = list(accounts) if accounts is not None else enabled
    # A scan that includes every enabled account stands for all of them in the combined trend.
    all_accounts = {a.pk for a in accounts} >= {a.pk for a in enabled}
    if not accounts:
        raise NoAccountsToScan("There is no enabled account to scan. Register an account first.")
    thresholds = effective_thresholds()
    with transaction.atomic():
        scan = Scan.objects.create(
            trigger=trigger,
            requested_by=requested_by,
            ruleset_version=ruleset_version(thresholds),
            thresholds=thresholds,
            scanned_at=scanned_at or timezone.now(),
            note=note,
            all_accounts=all_accounts,
        )
        account_scans = AccountScan.objects.bulk_create(
            [AccountScan(scan=scan, account=account) for account in accounts]
        )
        ids = [a.pk for a in account_scans]
        transaction.on_commit(lambda: [scan_account.delay(pk) for pk in ids])
    logger.info("Scan %s queued for %d account(s)", scan.pk, len(ids))
    return scan


def account_scan_claim(account_scan_id: int) -> bool:
    """Move a queued account scan to running. Only one caller ever gets True for a row."""
    now = timezone.now()
    claimed = AccountScan.objects.filter(pk=account_scan_id, state=AccountScan.State.QUEUED).update(
        state=AccountScan.State.RUNNING, started_at=now
    )
    if claimed:
        Scan.objects.filter(account_scans__pk=account_scan_id, state=Scan.State.QUEUED).update(
            state=Scan.State.RUNNING, started_at=now
        )
    return bool(claimed)


def account_scan_run(*, account_scan_id: int) -> None:
    """Scan one account of a scan. Safe to run twice: a second run finds the row claimed and stops."""
    if not account_scan_claim(account_scan_id):
        logger.info("Account scan %s was already claimed; nothing to do", account_scan_id)
        return
    account_scan = AccountScan.objects.select_related("scan", "account").get(pk=account_scan_id)
    scan, account = account_scan.scan, account_scan.account
    logger.info("Scan %s: scanning account %s", scan.pk, account.account_id)

    def on_regions(regions: list[str]) -> None:
        AccountScan.objects.filter(pk=account_scan_id).update(regions=regions)

    def on_region_done(region: str) -> None:
        AccountScan.objects.filter(pk=account_scan_id).update(regions_done=F("regions_done") + 1)

    try:
        outcome = engine.account_scan(
            account_id=account.account_id,
            role_arn=account.role_arn,
            external_id=account.external_id,
            partition=account.partition,
            configured_regions=list(account.regions),
            thresholds=scan.thresholds,
            now=scan.scanned_at,
            on_regions=on_regions,
            on_region_done=on_region_done,
        )
    except engine.AccountUnreachable as exc:
        logger.warning("Scan %s: account %s unreachable: %s", scan.pk, account.account_id, exc.error.code)
        _account_scan_fail(account_scan_id, code=exc.error.code, message=exc.error.message)
    except SoftTimeLimitExceeded:
        logger.warning("Scan %s: account %s hit the time limit", scan.pk, account.account_id)
        _account_scan_fail(
            account_scan_id,
            code="TimeLimitExceeded",
            message=f"The account scan ran past {settings.SCAN_SOFT_TIME_LIMIT} s and was stopped.",
        )
    except Exception as exc:
        logger.exception("Scan %s: account %s failed", scan.pk, account.account_id)
        _account_scan_fail(account_scan_id, code=type(exc).__name__, message=str(exc))
    else:
        _account_scan_store(account_scan, outcome)
    scan_finish_if_done(scan_id=scan.pk)


def _account_scan_fail(account_scan_id: int, *, code: str, message: str) -> None:
    AccountScan.objects.filter(pk=account_scan_id, state=AccountScan.State.RUNNING).update(
        state=AccountScan.State.FAILED,
        finished_at=timezone.now(),
        error_code=code[:100],
        error_message=message,
    )


def _account_scan_store(account_scan: AccountScan, outcome: engine.AccountOutcome) -> None:
    counts = {status.value: 0 for status in Status}
    for result in outcome.results:
        counts[result.status] += 1
    unknown_or_errors = counts[Status.UNKNOWN] or outcome.errors
    with transaction.atomic():
        findings_sync(scan=account_scan.scan, account=account_scan.account, results=outcome.results)
        _check_counts_store(account_scan.scan, account_scan.account, outcome.results)
        AccountScan.objects.filter(pk=account_scan.pk, state=AccountScan.State.RUNNING).update(
            state=AccountScan.State.PARTIAL if unknown_or_errors else AccountScan.State.COMPLETED,
            finished_at=timezone.now(),
            regions=outcome.regions,
            regions_done=len(outcome.regions),
            checks_done=len(registry()),
            errors=outcome.errors,
            counts=counts,
            listed=outcome.listed,
        )


def _check_counts_store(scan: Scan, account: Account, results: list[Result]) -> None:
    field_by_status = {
        Status.PASS: "passed",
        Status.FAIL: "failed",
        Status.UNKNOWN: "unknown",
        Status.NOT_APPLICABLE: "not_applicable",
    }
    counts: dict[str, CheckCount] = {}
    for result in results:
        row = counts.setdefault(
            result.check_id, CheckCount(scan=scan, account=account, check_id=result.check_id)
        )
        name = field_by_status[result.status]
        setattr(row, name, getattr(row, name) + 1)
    CheckCount.objects.filter(scan=scan, account=account).delete()
    CheckCount.objects.bulk_create(counts.values())


@dataclass
class SyncStats:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def _event_kind(old: str, new: str) -> str:
    if new == Status.FAIL:
        return FindingEvent.Kind.REOPENED
    if old == Status.FAIL and new == Status.PASS:
        return FindingEvent.Kind.RESOLVED
    return FindingEvent.Kind.STATUS_CHANGED


def findings_sync(*, scan: Scan, account: Account, results: list[Result]) -> SyncStats:
    """Upsert one account's findings from a scan's results and write an event per change.

    A finding is matched on (region, check id, resource id). Besides the status, the scan keeps
    the triage state current: a PASS resolves a finding, and a FAIL reopens a resolved one. It
    also stores which valid exception covers each finding, so a rule covers findings that appear
    after it was approved. Running this twice with the same results changes nothing the second
    time: no status or coverage changes, so no events.
    """
    definitions = registry()
    when = scan.scanned_at
    existing = {
        (f.region, f.check_id, f.resource_id): f
        # Every field that the bulk_update below writes without assigning it first must be loaded
        # here, or reading it would cost one query per finding.
        for f in Finding.objects.filter(account=account).only(
            "id",
            "region",
            "check_id",
            "resource_id",
            "status",
            "status_changed_at",
            "is_current",
            "triage_state",
            "exception",
        )
    }
    stats = SyncStats()
    to_create: list[Finding] = []
    to_update: list[Finding] = []
    # Per existing finding, its status before this scan.
    old_statuses: dict[int, str] = {}
    events: list[FindingEvent] = []
    for result in results:
        definition = definitions[result.check_id]
        finding = existing.get((result.region, result.check_id, result.resource_id))
        thresholds = scan.thresholds.get(result.check_id, {})
        if finding is None:
            finding = Finding(
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
                thresholds=thresholds,
                first_seen_at=when,
                last_seen_at=when,
                status_changed_at=when,
                last_scan=scan,
                tags=tags_from_evidence(result.evidence),
                triage_state=(
                    Finding.TriageState.RESOLVED
                    if result.status in SETTLED_STATUSES
                    else Finding.TriageState.OPEN
                ),
            )
            to_create.append(finding)
            stats.created += 1
            continue
        old_statuses[finding.pk] = finding.status
        if finding.status != result.status:
            events.append(
                FindingEvent(
                    finding=finding,
                    scan=scan,
                    kind=_event_kind(finding.status, result.status),
                    old_status=finding.status,
                    new_status=result.status,
                    field="status",
                    old_value=finding.status,
                    new_value=result.status,
                    created_at=when,
                )
            )
            finding.status = result.status
            finding.status_changed_at = when
            stats.changed += 1
        else:
            stats.unchanged += 1
        finding.resource_type = result.resource_type
        finding.area = definition.area
        finding.severity = definition.severity
        finding.reason = result.reason
        finding.evidence = result.evidence
        finding.thresholds = thresholds
        finding.last_seen_at = when
        finding.last_scan = scan
        finding.is_current = True
        finding.tags = tags_from_evidence(result.evidence)
        to_update.append(finding)

    # Exceptions count as they were at the scan's scanned_at, as in the score snapshots, so
    # back-dated scans (the demo) see the exceptions of their own day. One that expires while the
    # scan runs is caught by the expiry task and by the score read path.
    now = scan.scanned_at
    index = ExceptionIndex.load(now=now, listed_filter={"finding__account": account})
    events.extend(
        coverage_apply(
            [CoverageTarget(f, account.account_id, old_statuses.get(f.pk)) for f in to_update],
            index=index,
            now=now,
            when=when,
            scan=scan,
        )
    )
    # New findings are covered before they are inserted, and their events follow "opened".
    new_finding_events = coverage_apply(
        [CoverageTarget(f, account.account_id) for f in to_create], index=index, now=now, when=when, scan=scan
    )
    Finding.objects.bulk_create(to_create, batch_size=UPDATE_BATCH)
    events.extend(
        FindingEvent(
            finding=f,
            scan=scan,
            kind=FindingEvent.Kind.OPENED,
            new_status=f.status,
            field="status",
            new_value=f.status,
            created_at=when,
        )
        for f in to_create
    )
    events.extend(new_finding_events)
    _findings_write(
        to_update,
        [
            "status",
            "status_changed_at",
            "resource_type",
            "area",
            "severity",
            "reason",
            "evidence",
            "thresholds",
            "last_seen_at",
            "last_scan",
            "is_current",
            "tags",
            "triage_state",
            "exception",
        ],
    )
    events.extend(_findings_retire(scan, existing, results))
    FindingEvent.objects.bulk_create(events, batch_size=UPDATE_BATCH)
    return stats


def _findings_write(findings: list[Finding], fields: list[str]) -> None:
    """UPDATE `fields` of each finding by primary key, in one executemany.

    QuerySet.bulk_update builds a CASE expression per field and row in Python: on a rescan of
    3,000 findings it spent about 25 s there (SQLite, bench/triage_bench.py). One parameterized
    UPDATE sent with executemany does the same work in well under a second.
    """
    if not findings:
        return
    connection = connections[Finding.objects.db]
    quote = connection.ops.quote_name
    meta = Finding._meta  # noqa: SLF001 - Django's documented model metadata API
    model_fields = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in model_fields)
    # Only quoted names from the model go into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(finding, field.attname), connection) for field in model_fields]
        + [finding.pk]
        for finding in findings
    ]
    # One transaction, as bulk_update uses: outside one, SQLite would commit every row.
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(params), UPDATE_BATCH):
            cursor.executemany(sql, params[start : start + UPDATE_BATCH])


def _findings_retire(
    scan: Scan, existing: dict[tuple[str, str, str], Finding], results: list[Result]
) -> list[FindingEvent]:
    """Mark findings whose resource this scan no longer listed as not current.

    A (check, region) pair that gave an UNKNOWN result is left alone, because its resources were
    not listed and may still exist.
    """
    seen = {(r.region, r.check_id, r.resource_id) for r in results}
    undecided = {(r.region, r.check_id) for r in results if r.status == Status.UNKNOWN}
    # An UNKNOWN under "global" may stand for the whole check (it raised before judging anything).
    undecided_checks = {
        r.check_id for r in results if r.status == Status.UNKNOWN and r.region == GLOBAL_REGION
    }
    gone = [
        finding
        for key, finding in existing.items()
        if key not in seen
        and finding.is_current
        and (key[0], key[1]) not in undecided
        and key[1] not in undecided_checks
    ]
    for finding in gone:
        finding.is_current = False
    Finding.objects.filter(pk__in=[f.pk for f in gone]).update(is_current=False)
    return [
        FindingEvent(
            finding=finding,
            scan=scan,
            kind=FindingEvent.Kind.GONE,
            old_status=finding.status,
            created_at=scan.scanned_at,
            comment="The resource was not listed by this scan: it was deleted or is out of scope.",
        )
        for finding in gone
    ]


def scan_finish_if_done(*, scan_id: int) -> bool:
    """Close the scan when its last account is done: write score snapshots and the final state.

    Runs under a row lock on the scan, so when two accounts finish at once only one closes it.
    """
    with transaction.atomic():
        scan = Scan.objects.select_for_update().get(pk=scan_id)
        if scan.is_finished:
            return False
        states = list(scan.account_scans.values_list("state", flat=True))
        if any(state not in Scan.FINAL_STATES for state in states):
            return False
        snapshots_write(scan)
        if all(state == Scan.State.COMPLETED for state in states):
            scan.state = Scan.State.COMPLETED
        elif all(state == Scan.State.FAILED for state in states):
            scan.state = Scan.State.FAILED
        else:
            scan.state = Scan.State.PARTIAL
        scan.finished_at = timezone.now()
        scan.save(update_fields=["state", "finished_at"])
    logger.info("Scan %s finished: %s", scan.pk, scan.state)
    return True


def snapshots_write(scan: Scan) -> None:
    """Write one ScoreSnapshot per account and area from the findings the scan saw.

    Headline and raw scores differ by the FAILs under exceptions valid now. Each snapshot also
    stores what its scores owe to exceptions that will expire (`exception_lapses`).

    An account that could not be scanned gets snapshots with no score and the results it was
    expected to give (its previous scan's count, at least one per check), so coverage drops.
    """
    definitions = registry()
    checks_per_area: dict[str, int] = {}
    for definition in definitions.values():
        checks_per_area[definition.area] = checks_per_area.get(definition.area, 0) + 1

    snapshots = []
    for account_scan in scan.account_scans.select_related("account"):
        account = account_scan.account
        if account_scan.state == AccountScan.State.FAILED:
            # Oldest first, so dict() keeps the newest count of each area.
            previous = dict(
                ScoreSnapshot.objects.filter(account=account, scanned_at__lt=scan.scanned_at)
                .order_by("area", "scanned_at")
                .values_list("area", "results_expected")
            )
            for area, count in checks_per_area.items():
                snapshots.append(
                    ScoreSnapshot(
                        scan=scan,
                        account=account,
                        area=area,
                        scanned_at=scan.scanned_at,
                        ruleset_version=scan.ruleset_version,
                        all_accounts=scan.all_accounts,
                        numerator=0,
                        raw_numerator=0,
                        denominator=0,
                        results_expected=max(count, previous.get(area, 0)),
                        results_decided=0,
                    )
                )
            continue
        rows = _score_rows(account, scan, now=scan.scanned_at)
        lapses = exception_lapses(rows, definitions)
        snapshots.extend(
            snapshot_build(scan=scan, account=account, area=area, tally=tally, lapses=lapses.get(area, []))
            for area, tally in tally_account(rows, definitions).items()
        )
    ScoreSnapshot.objects.filter(scan=scan).delete()
    ScoreSnapshot.objects.bulk_create(snapshots)


def _score_rows(account: Account, scan: Scan, *, now: dt.datetime) -> list[ResultRow]:
    """Return the account's results in the scan, each with the exception that is valid at `now`.

    The exception's state and expiry are read again here instead of trusting the coverage stored
    by findings_sync, because an exception may have expired or been disabled since.
    """
    rows = []
    findings = Finding.objects.filter(account=account, last_scan=scan).values_list(
        "check_id",
        "status",
        "exception__kind",
        "exception__state",
        "exception__enabled",
        "exception__expires_at",
    )
    for check_id, status, kind, state, enabled, expires_at in findings:
        covered = (
            status == Status.FAIL
            and state == FindingException.State.APPROVED
            and enabled
            and (expires_at is None or expires_at > now)
        )
        rows.append(
            ResultRow(
                check_id=check_id,
                status=status,
                excepted=covered and kind == FindingException.Kind.RISK_ACCEPTED,
                false_positive=covered and kind == FindingException.Kind.FALSE_POSITIVE,
                exception_expires_at=expires_at if covered else None,
            )
        )
    return rows


def snapshot_build(
    *, scan: Scan, account: Account, area: str, tally: AreaTally, lapses: list[dict] | None = None
) -> ScoreSnapshot:
    """Build (unsaved) the snapshot of one account and area from its tally.

    `lapses` lists what the headline owes to exceptions that will expire, each with `expires_at`.
    """
    lapses = lapses or []
    return ScoreSnapshot(
        scan=scan,
        account=account,
        area=area,
        scanned_at=scan.scanned_at,
        ruleset_version=scan.ruleset_version,
        all_accounts=scan.all_accounts,
        numerator=tally.numerator,
        raw_numerator=tally.raw_numerator,
        denominator=tally.denominator,
        results_expected=tally.expected,
        results_decided=tally.decided,
        passed=tally.passed,
        failed=tally.failed,
        unknown=tally.unknown,
        not_applicable=tally.not_applicable,
        exception_lapses=lapses,
        exceptions_expire_at=min(
            (dt.datetime.fromisoformat(entry["expires_at"]) for entry in lapses), default=None
        ),
    )


def account_scans_reap(*, now: dt.datetime | None = None) -> int:
    """Mark account scans stuck past SCAN_STUCK_AFTER as failed, then close their scans."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.SCAN_STUCK_AFTER)
    stuck = AccountScan.objects.filter(
        state__in=[AccountScan.State.QUEUED, AccountScan.State.RUNNING], scan__created_at__lt=cutoff
    )
    scan_ids = set(stuck.values_list("scan_id", flat=True))
    count = stuck.update(
        state=AccountScan.State.FAILED,
        finished_at=now,
        error_code="Stuck",
        error_message=(
            f"No result after {settings.SCAN_STUCK_AFTER} s: the worker probably stopped. "
            "Start a new scan of this account."
        ),
    )
    for scan_id in scan_ids:
        scan_finish_if_done(scan_id=scan_id)
    if count:
        logger.warning("Reaped %d stuck account scan(s) in scan(s) %s", count, sorted(scan_ids))
    return count
