"""Which valid exception covers each finding, and the events and triage states that follow from it.

Every valid exception is compiled once per evaluation: its glob becomes a regular expression and
its tags become pairs. Rules are indexed by (check id, account id), so a finding is compared only
with the rules of its own check and account and with the rules that name neither. When several exceptions
match, the best one covers the finding: an exception listing the finding before a rule, a false
positive before an accepted risk, the one that lasts longest, then the oldest. The choice depends
only on the set of valid exceptions, so evaluating again without a change writes nothing.

The scanner (posture.services.findings_sync) and the exception services (triage.services) both go
through `coverage_apply`, which sets `Finding.exception` and `Finding.triage_state` on the objects
it is given and returns the FindingEvents that explain each change. The caller saves both in bulk.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from posture.checks.base import Status
from posture.models import Finding, FindingEvent, Scan
from triage.models import FindingException

TriageState = Finding.TriageState
Kind = FindingEvent.Kind

# Results that need no action: a finding that reaches one of them is resolved by the scan.
SETTLED_STATUSES = frozenset({Status.PASS, Status.NOT_APPLICABLE})
EXCEPTION_STATES = frozenset({TriageState.RISK_ACCEPTED, TriageState.FALSE_POSITIVE})


# Compiled exceptions and their index.
def _glob_regex(pattern: str) -> str:
    """Return the regular expression of a glob over the whole resource id, or "" for "everything"."""
    return "" if not pattern or pattern == "*" else fnmatch.translate(pattern)


def _glob_literal(pattern: str) -> str:
    """Return the longest run of plain characters of a glob: text every match must contain.

    Only the part before the first [ is read, because a set such as []x] is hard to delimit.
    """
    runs = re.split(r"[*?]", pattern.split("[", 1)[0])
    return max(runs, key=len)


@dataclass(frozen=True, slots=True)
class CompiledException:
    pk: int
    kind: str
    expires_at: dt.datetime | None
    listed: bool  # scope FINDINGS: matches the findings it lists, whatever their fields
    check_id: str
    account_id: str
    region: str
    pattern: str  # regular expression of the resource glob; "" matches every resource
    literal: str  # text every matching resource id contains: a cheap test before the expression
    tags: tuple[tuple[str, str], ...]
    # Lower is better: listed before rule, false positive before accepted risk, longest-lasting,
    # then oldest.
    rank: tuple[int, int, float, int]
    match_resource: Callable[[str], re.Match[str] | None] | None = None

    @classmethod
    def build(cls, exception: FindingException) -> CompiledException:
        listed = exception.scope == FindingException.Scope.FINDINGS
        expiry_rank = -exception.expires_at.timestamp() if exception.expires_at else -math.inf
        pattern = "" if listed else _glob_regex(exception.resource_pattern)
        return cls(
            pk=exception.pk,
            kind=exception.kind,
            expires_at=exception.expires_at,
            listed=listed,
            check_id=exception.check_id,
            account_id=exception.account_id,
            region=exception.region,
            pattern=pattern,
            literal="" if listed else _glob_literal(exception.resource_pattern),
            tags=tuple(sorted((exception.tags or {}).items())),
            rank=(
                0 if listed else 1,
                0 if exception.kind == FindingException.Kind.FALSE_POSITIVE else 1,
                expiry_rank,
                exception.pk,
            ),
            match_resource=re.compile(pattern).match if pattern else None,
        )

    def matches(self, *, region: str, resource_id: str, tags: dict[str, str]) -> bool:
        """Return whether the rule matches. The index's buckets have already matched check and account."""
        if self.region and self.region != region:
            return False
        if self.match_resource is not None and (
            self.literal not in resource_id or self.match_resource(resource_id) is None
        ):
            return False
        return all(tags.get(key) == value for key, value in self.tags)

    @property
    def triage_state(self) -> str:
        return TriageState(self.kind)


def _better(candidate: CompiledException | None, found: CompiledException | None) -> CompiledException | None:
    if candidate is None:
        return found
    return candidate if found is None or candidate.rank < found.rank else found


class _Bucket:
    """The rules of one (check id, account id) pair, split by what they test, each part by rank.

    - the best rule that tests nothing more always matches, so it is kept alone;
    - rules that test only the resource id are tried in rank order, each first by a substring test
      of its glob's longest plain text, which rejects most of them without a regular expression;
    - rules that name a region are listed under it, and rules that test tags under their first
      tag, so a finding reaches only those of its own region and tags.
    """

    def __init__(self, rules: list[CompiledException]) -> None:
        rules = sorted(rules, key=lambda rule: rule.rank)
        self.plain = next((r for r in rules if not (r.region or r.pattern or r.tags)), None)
        self.pattern_rules = [r for r in rules if r.pattern and not r.region and not r.tags]
        self.by_region: dict[str, list[CompiledException]] = defaultdict(list)
        self.by_tag: dict[tuple[str, str], list[CompiledException]] = defaultdict(list)
        for rule in rules:
            if rule.region:
                self.by_region[rule.region].append(rule)
            elif rule.tags:
                self.by_tag[rule.tags[0]].append(rule)

    def best(self, region: str, resource_id: str, tags: dict[str, str]) -> CompiledException | None:
        found = self.plain
        for rule in self.pattern_rules:
            if found is not None and rule.rank >= found.rank:
                break
            if rule.literal in resource_id and rule.match_resource(resource_id) is not None:
                found = rule
                break
        candidates = [self.by_region.get(region, ())]
        candidates.extend(self.by_tag.get(item, ()) for item in tags.items())
        for rules in candidates:
            for rule in rules:
                if found is not None and rule.rank >= found.rank:
                    break  # sorted by rank: nothing later in this list can beat `found`
                if rule.matches(region=region, resource_id=resource_id, tags=tags):
                    found = rule
                    break
        return found


class ExceptionIndex:
    """The valid exceptions at one moment, ready to be matched against many findings.

    Rules are grouped by (check id, account id), with "" for "every", so a finding is compared
    only with the four groups that can match it.
    """

    def __init__(self, compiled: Iterable[CompiledException], listed: dict[int, list[CompiledException]]):
        groups: dict[tuple[str, str], list[CompiledException]] = defaultdict(list)
        for item in compiled:
            if not item.listed:
                groups[(item.check_id, item.account_id)].append(item)
        self._buckets = {key: _Bucket(rules) for key, rules in groups.items()}
        self._listed = {finding_id: min(items, key=lambda i: i.rank) for finding_id, items in listed.items()}

    @classmethod
    def load(
        cls,
        *,
        now: dt.datetime,
        listed_filter: dict | None = None,
        exclude: Iterable[int] = (),
    ) -> ExceptionIndex:
        """Compile every exception valid at `now` (two queries).

        `listed_filter` narrows which memberships of listed exceptions are read, for example
        `{"finding__account": account}` during a scan. `exclude` leaves out exceptions that are
        being disabled or deleted in the same transaction.
        """
        exceptions = list(
            FindingException.objects.valid(now)
            .exclude(pk__in=list(exclude))
            .only(
                "pk",
                "kind",
                "scope",
                "expires_at",
                "check_id",
                "account_id",
                "region",
                "resource_pattern",
                "tags",
            )
        )
        compiled = {exception.pk: CompiledException.build(exception) for exception in exceptions}
        listed_ids = [pk for pk, item in compiled.items() if item.listed]
        listed: dict[int, list[CompiledException]] = defaultdict(list)
        if listed_ids:
            through = FindingException.findings.through.objects.filter(findingexception_id__in=listed_ids)
            if listed_filter:
                through = through.filter(**listed_filter)
            for finding_id, exception_id in through.values_list("finding_id", "findingexception_id"):
                listed[finding_id].append(compiled[exception_id])
        return cls(compiled.values(), listed)

    def best(
        self,
        *,
        finding_id: int | None,
        check_id: str,
        account_id: str,
        region: str,
        resource_id: str,
        tags: dict[str, str],
    ) -> CompiledException | None:
        """Return the exception that covers the finding, or None."""
        if finding_id is not None:
            listed = self._listed.get(finding_id)
            if listed is not None:
                return listed
        found: CompiledException | None = None
        for key in ((check_id, account_id), (check_id, ""), ("", account_id), ("", "")):
            bucket = self._buckets.get(key)
            if bucket is not None:
                found = _better(bucket.best(region, resource_id, tags), found)
        return found


# Applying coverage and triage changes to findings.
@dataclass(frozen=True)
class Lapse:
    """The reason a finding lost the exception that covered it, for its event."""

    kind: str  # EXCEPTION_EXPIRED or EXCEPTION_REMOVED
    comment: str


def lapses_of(exception_ids: Iterable[int], *, now: dt.datetime) -> dict[int, Lapse]:
    """Explain, per exception id, why it no longer covers the findings it covered (one query)."""
    ids = set(exception_ids)
    if not ids:
        return {}
    rows = {
        row["pk"]: row
        for row in FindingException.objects.filter(pk__in=ids).values("pk", "state", "enabled", "expires_at")
    }
    lapses = {}
    for pk in ids:
        row = rows.get(pk)
        if row is None:
            lapses[pk] = Lapse(Kind.EXCEPTION_REMOVED, f"Exception {pk} was deleted.")
        elif row["state"] == FindingException.State.EXPIRED or (
            row["expires_at"] is not None and row["expires_at"] <= now
        ):
            lapses[pk] = Lapse(
                Kind.EXCEPTION_EXPIRED, f"Exception {pk} expired at {row['expires_at']:%Y-%m-%d %H:%M} UTC."
            )
        elif not row["enabled"]:
            lapses[pk] = Lapse(Kind.EXCEPTION_REMOVED, f"Exception {pk} was disabled.")
        elif row["state"] != FindingException.State.APPROVED:
            lapses[pk] = Lapse(Kind.EXCEPTION_REMOVED, f"Exception {pk} is no longer approved.")
        else:
            lapses[pk] = Lapse(
                Kind.EXCEPTION_REMOVED,
                f"Exception {pk} no longer matches the finding (its scope or the resource's tags changed).",
            )
    return lapses


def triage_after_scan(*, state: str, old_status: str, new_status: str, covered_kind: str | None) -> str:
    """Return the triage state after a scan saw `new_status` on a finding that had `old_status`.

    A result that newly passes (or is not applicable) resolves the finding. A FAIL reopens a
    resolved finding, also one resolved by hand while it still failed, straight into the covering
    exception's state when one covers it. UNKNOWN changes nothing, because nothing was learned
    about the resource.
    """
    if new_status in SETTLED_STATUSES and old_status not in SETTLED_STATUSES:
        return TriageState.RESOLVED
    if new_status == Status.FAIL and state == TriageState.RESOLVED:
        return TriageState(covered_kind) if covered_kind else TriageState.OPEN
    return state


def triage_after_coverage(*, state: str, status: str, covered_kind: str | None) -> str:
    """Return the triage state after the covering exception of a finding changed.

    A new exception over a finding that still needs action puts it in the exception's state. A
    finding that loses its exception leaves the exception's state, and is open again if it fails.
    """
    if covered_kind is not None:
        return state if status in SETTLED_STATUSES else TriageState(covered_kind)
    if state in EXCEPTION_STATES:
        return TriageState.RESOLVED if status in SETTLED_STATUSES else TriageState.OPEN
    return state


def describe_applied(item: CompiledException) -> str:
    label = FindingException.Kind(item.kind).label.lower()
    until = f" until {item.expires_at:%Y-%m-%d %H:%M} UTC" if item.expires_at else ""
    return f"Exception {item.pk} applies: {label}{until}."


@dataclass
class CoverageTarget:
    """One finding to evaluate, with its status before the scan (None outside a scan)."""

    finding: Finding
    account_id: str
    old_status: str | None = None


def coverage_apply(
    targets: Sequence[CoverageTarget],
    *,
    index: ExceptionIndex,
    now: dt.datetime,
    when: dt.datetime,
    scan: Scan | None = None,
    actor: AbstractBaseUser | None = None,
    lapse_override: dict[int, Lapse] | None = None,
) -> list[FindingEvent]:
    """Update each finding's covering exception and triage state, and return the events explaining it.

    Mutates `exception_id` and `triage_state` of the findings; the caller saves them. A scan's
    results (`old_status` set) are handled here too, so one finding gets at most one triage event
    per call even when its status and its exception change together. `lapse_override` replaces
    the explanation of a lost exception (for example "deleted by alice").
    """
    changes: list[tuple[CoverageTarget, CompiledException | None, int | None, str]] = []
    lost: set[int] = set()
    for target in targets:
        finding = target.finding
        best = index.best(
            finding_id=finding.pk,
            check_id=finding.check_id,
            account_id=target.account_id,
            region=finding.region,
            resource_id=finding.resource_id,
            tags=finding.tags or {},
        )
        new_id = best.pk if best is not None else None
        scanned_state = finding.triage_state
        if target.old_status is not None:
            scanned_state = triage_after_scan(
                state=finding.triage_state,
                old_status=target.old_status,
                new_status=finding.status,
                covered_kind=best.kind if best is not None else None,
            )
        if new_id == finding.exception_id and scanned_state == finding.triage_state:
            continue
        changes.append((target, best, finding.exception_id, scanned_state))
        if finding.exception_id is not None and new_id != finding.exception_id:
            lost.add(finding.exception_id)
    lapses = lapses_of(lost - set(lapse_override or ()), now=now)
    lapses.update({pk: lapse for pk, lapse in (lapse_override or {}).items() if pk in lost})

    events: list[FindingEvent] = []

    def event(finding: Finding, kind: str, field: str, old: str, new: str, comment: str) -> None:
        events.append(
            FindingEvent(
                finding=finding,
                scan=scan,
                kind=kind,
                field=field,
                old_value=old,
                new_value=new,
                actor=actor,
                comment=comment,
                created_at=when,
            )
        )

    for target, best, old_id, state in changes:
        finding = target.finding
        new_id = best.pk if best is not None else None
        reasons: list[str] = []
        if state != finding.triage_state and scan is not None:
            verb = "Resolved" if state == TriageState.RESOLVED else "Reopened"
            reasons.append(f"{verb} by scan {scan.pk}: the result is {finding.status}.")
        if new_id != old_id:
            if best is not None:
                if old_id is not None:  # another exception takes over: the event names why the old one left
                    reasons.append(lapses[old_id].comment)
                reasons.append(describe_applied(best))
                comment = " ".join(reasons[-2:] if old_id is not None else reasons[-1:])
                event(finding, Kind.EXCEPTION_APPLIED, "exception", _text(old_id), str(new_id), comment)
            else:
                lapse = lapses[old_id]
                reasons.append(lapse.comment)
                event(finding, lapse.kind, "exception", str(old_id), "", lapse.comment)
            finding.exception_id = new_id
            state = triage_after_coverage(
                state=state, status=finding.status, covered_kind=best.kind if best is not None else None
            )
        if state != finding.triage_state:
            event(finding, Kind.STATE_CHANGED, "triage_state", finding.triage_state, state, " ".join(reasons))
            finding.triage_state = state
    return events


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def tags_from_evidence(evidence: dict) -> dict[str, str]:
    """Return the resource's tags from evidence that carries AWS's `Tags` or `TagList`.

    Both are lists of {"Key": ..., "Value": ...} in the EC2, RDS, Redshift and IAM responses the
    collectors keep; anything else gives {}.
    """
    items = evidence.get("Tags") if isinstance(evidence, dict) else None
    if items is None and isinstance(evidence, dict):
        items = evidence.get("TagList")
    if not isinstance(items, list):
        return {}
    tags = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("Key"), str):
            value = item.get("Value")
            tags[item["Key"]] = value if isinstance(value, str) else ""
    return tags
