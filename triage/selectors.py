"""Reads for triage: the findings and exceptions a user may see, and what expires soon.

Every read takes the user and returns nothing (or raises Http404) for a user without a dashboard
role, so a page cannot show an object its reader may not see.

The bulk triage section also checks a bulk action's arguments and plans which findings change.
The confirmation on the findings page and `triage.services.findings_bulk_triage` both call
`findings_bulk_preview`, so the count shown before confirming comes from the code that decides
what the service writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.roles import can_triage, can_view, is_admin
from posture.checks.base import Status
from posture.models import Finding, FindingEvent
from triage.coverage import CompiledException
from triage.models import FindingException

EXPIRING_WITHIN_DAYS = 30

TriageState = Finding.TriageState
# States people set by hand. Risk accepted and false positive come only from a valid exception,
# which carries the reason, the expiry and an admin's approval.
MANUAL_STATES = tuple(
    state for state in TriageState if state not in (TriageState.RISK_ACCEPTED, TriageState.FALSE_POSITIVE)
)
# States that only a valid exception sets, and that only removing the exception changes.
EXCEPTION_STATES = (TriageState.RISK_ACCEPTED, TriageState.FALSE_POSITIVE)
# A bulk action larger than this is almost certainly a mistake in the selection.
BULK_MAX = 20_000
# Rows per query for id lists: below SQLite's limit on bound parameters in every version.
CHUNK = 900
_MISSING_SHOWN = 10


def _may_view(user) -> bool:
    return user is not None and can_view(user)


def findings_visible(*, user) -> QuerySet[Finding]:
    """Return the findings the user may see.

    NOTE: every role reads every account today, so this is all findings or none. A per-account
    scope would narrow this queryset, which every triage service reads findings through.
    """
    return Finding.objects.all() if _may_view(user) else Finding.objects.none()


def finding_get(*, user, pk: int) -> Finding:
    """Return the finding or raise Http404, also when the user may not see it."""
    try:
        return findings_visible(user=user).select_related("account", "assignee", "exception").get(pk=pk)
    except (Finding.DoesNotExist, ValueError, TypeError):
        raise Http404(f"There is no finding {pk!r} that you may see.") from None


def finding_timeline(*, user, finding: Finding) -> QuerySet[FindingEvent]:
    """Return the finding's events, oldest first, with their actors."""
    if not _may_view(user):
        return FindingEvent.objects.none()
    return finding.events.select_related("actor", "scan").order_by("created_at", "id")


# Bulk triage: the checks of its arguments, the rows it reads and what it changes.
def chunked(values: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def validate_manual_state(state: str) -> str:
    if state in (TriageState.RISK_ACCEPTED, TriageState.FALSE_POSITIVE):
        raise ValidationError(
            "The state %(value)r comes from an exception. Propose an exception with a reason (and an "
            "expiry for an accepted risk); the finding takes that state once an admin approves it.",
            code="state_from_exception",
            params={"value": state},
        )
    if state not in MANUAL_STATES:
        raise ValidationError(
            "Unknown triage state %(value)r. Use one of: %(states)s.",
            code="unknown_state",
            params={"value": state, "states": ", ".join(MANUAL_STATES)},
        )
    return state


def validate_assignee(assignee) -> None:
    if not assignee.is_active or not can_triage(assignee):
        raise ValidationError(
            "%(value)s cannot be assigned findings: only active analysts and admins triage. Grant the "
            "analyst role first.",
            code="assignee_role",
            params={"value": assignee.get_username()},
        )


def finding_ids_parse(values: Iterable[Any]) -> list[int]:
    """Return the distinct ids in their first order; reject anything that is not an id."""
    ids: dict[int, None] = {}
    for value in values:
        try:
            ids[int(value)] = None
        except (TypeError, ValueError):
            raise ValidationError(
                "%(value)r is not a finding id. Select findings from the list.",
                code="invalid_id",
                params={"value": value},
            ) from None
    return list(ids)


def findings_visible_rows(
    *, user, ids: list[int], fields: Sequence[str] = (), lock: bool = False
) -> dict[int, tuple]:
    """Return {id: (fields...)} for the findings the user may see; reject the selection otherwise."""
    rows: dict[int, tuple] = {}
    for chunk in chunked(ids):
        findings = findings_visible(user=user).filter(pk__in=chunk)
        if lock:
            findings = findings.select_for_update()
        for pk, *values in findings.values_list("pk", *fields):
            rows[pk] = tuple(values)
    missing = [pk for pk in ids if pk not in rows]
    if missing:
        shown = ", ".join(str(pk) for pk in missing[:_MISSING_SHOWN])
        more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
        raise ValidationError(
            "Findings %(ids)s%(more)s do not exist or are not visible to you, so nothing was changed. "
            "Reload the list and select again.",
            code="findings_not_found",
            params={"ids": shown, "more": more},
        )
    return rows


@dataclass(frozen=True)
class BulkTriagePreview:
    """The plan of a bulk triage: the checked arguments, the current values and the ids that change."""

    ids: list[int]
    state: str | None
    # The new assignee, or None. With None, `change_assignee` separates unassigning from keeping.
    assignee: Any
    change_assignee: bool
    comment: str
    # (triage_state, assignee_id) of each selected finding before the change.
    rows: dict[int, tuple[str, int | None]]
    state_ids: list[int]
    assign_ids: list[int]
    # Findings whose state an exception sets (risk accepted, false positive): the state stays.
    kept_ids: list[int] = field(default_factory=list)

    @property
    def selected(self) -> int:
        return len(self.ids)

    @property
    def changed(self) -> int:
        """Count the findings that get at least one event: every one of them when there is a comment."""
        if self.comment:
            return len(self.ids)
        return len(set(self.state_ids) | set(self.assign_ids))

    @property
    def unchanged(self) -> int:
        """Count the findings whose state and assignee already are what the action sets."""
        return len(self.ids) - len(set(self.state_ids) | set(self.assign_ids) | set(self.kept_ids))


def findings_bulk_preview(
    *,
    user,
    finding_ids: Iterable[Any],
    state: str | None = None,
    assignee=None,
    unassign: bool = False,
    comment: str = "",
    lock: bool = False,
) -> BulkTriagePreview:
    """Check a bulk triage's arguments and return which findings it changes, writing nothing.

    Raises PermissionDenied for a user who may not triage. Raises a ValidationError for an empty
    or too large selection, an id the user may not see, a state set only by exceptions, an
    assignee who may not triage, assigning and unassigning at once, or nothing to do. `lock`
    takes row locks (SELECT ... FOR UPDATE), for the service that writes the plan in the same
    transaction.
    """
    if not can_triage(user):
        raise PermissionDenied("Triage needs the analyst or admin role. Ask an admin to grant it.")
    ids = finding_ids_parse(finding_ids)
    comment = (comment or "").strip()
    if not ids:
        raise ValidationError("No finding is selected. Select at least one.", code="empty_selection")
    if len(ids) > BULK_MAX:
        raise ValidationError(
            "%(count)s findings are selected; a bulk action takes at most %(max)s. Narrow the filter.",
            code="selection_too_large",
            params={"count": len(ids), "max": BULK_MAX},
        )
    if state is None and assignee is None and not unassign and not comment:
        raise ValidationError(
            "Nothing to do: choose a state, an assignee or write a comment.", code="nothing_to_do"
        )
    if state is not None:
        validate_manual_state(state)
    if assignee is not None and unassign:
        raise ValidationError("Choose an assignee or unassign, not both.", code="assign_conflict")
    if assignee is not None:
        validate_assignee(assignee)
    change_assignee = assignee is not None or unassign
    new_assignee_id = assignee.pk if assignee is not None else None

    rows = findings_visible_rows(user=user, ids=ids, fields=("triage_state", "assignee_id"), lock=lock)
    # An exception sets risk accepted and false positive; only removing the exception changes them.
    kept_ids = [pk for pk in ids if state is not None and rows[pk][0] in EXCEPTION_STATES]
    state_ids = [
        pk for pk in ids if state is not None and rows[pk][0] != state and rows[pk][0] not in EXCEPTION_STATES
    ]
    assign_ids = [pk for pk in ids if change_assignee and rows[pk][1] != new_assignee_id]
    return BulkTriagePreview(
        ids=ids,
        state=state,
        assignee=assignee,
        change_assignee=change_assignee,
        comment=comment,
        rows=rows,
        state_ids=state_ids,
        assign_ids=assign_ids,
        kept_ids=kept_ids,
    )


def exceptions_visible(*, user) -> QuerySet[FindingException]:
    if not _may_view(user):
        return FindingException.objects.none()
    return FindingException.objects.select_related("created_by", "reviewed_by")


def exception_get(*, user, pk: int) -> FindingException:
    """Return the exception or raise Http404, also when the user may not see it."""
    try:
        return exceptions_visible(user=user).get(pk=pk)
    except (FindingException.DoesNotExist, ValueError, TypeError):
        raise Http404(f"There is no exception {pk!r} that you may see.") from None


def exception_list(*, user, state: str = "", kind: str = "") -> QuerySet[FindingException]:
    """Return exceptions, newest first, optionally of one state ("disabled" included) and kind."""
    exceptions = exceptions_visible(user=user)
    if state == "disabled":
        exceptions = exceptions.filter(enabled=False)
    elif state:
        exceptions = exceptions.filter(state=state, enabled=True)
    if kind:
        exceptions = exceptions.filter(kind=kind)
    return exceptions.order_by("-created_at", "-id")


def exceptions_expiring(
    *, user, within_days: int = EXPIRING_WITHIN_DAYS, now: dt.datetime | None = None
) -> QuerySet[FindingException]:
    """Return the valid exceptions that expire within `within_days` days, soonest first."""
    now = now or timezone.now()
    return (
        exceptions_visible(user=user)
        .filter(pk__in=FindingException.objects.valid(now).values("pk"))
        .filter(expires_at__lte=now + dt.timedelta(days=within_days))
        .order_by("expires_at", "id")
    )


def exceptions_awaiting_review(
    *, user, kind: str = "", now: dt.datetime | None = None
) -> QuerySet[FindingException]:
    """Return the proposed exceptions that `user` may approve or reject, oldest first.

    Empty for a user who is not an admin. An admin's own proposals are left out, because another
    admin must review them, and so are proposals already past their expiry, which cannot be approved.
    """
    if user is None or not is_admin(user):
        return FindingException.objects.none()
    now = now or timezone.now()
    exceptions = (
        exceptions_visible(user=user)
        .filter(state=FindingException.State.PROPOSED, enabled=True)
        .exclude(created_by=user)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    )
    if kind:
        exceptions = exceptions.filter(kind=kind)
    return exceptions.order_by("created_at", "id")


def exception_listed_findings(*, user, exception: FindingException) -> QuerySet[Finding]:
    """Return the findings that an exception of scope FINDINGS lists, by account, check and resource."""
    return (
        findings_visible(user=user)
        .filter(listed_in_exceptions=exception)
        .select_related("account")
        .order_by("account__account_id", "check_id", "resource_id", "id")
    )


def exception_covered_count(*, user, exception: FindingException) -> int:
    """Return how many findings the exception covers now (those that store it as their exception)."""
    return findings_visible(user=user).filter(exception=exception).count()


@dataclass(frozen=True)
class ExceptionCoverage:
    """How many findings an exception covers now, and how many of those fail."""

    covered: int
    # Current findings with status FAIL, as the overview counts the failures an exception hides.
    failing: int


def exception_coverage(*, user, exception: FindingException) -> ExceptionCoverage:
    """Count the findings that store `exception` as theirs, and the current failing ones among them."""
    counts = (
        findings_visible(user=user)
        .filter(exception=exception)
        .aggregate(
            covered=Count("id"),
            failing=Count("id", filter=Q(is_current=True, status=Status.FAIL)),
        )
    )
    return ExceptionCoverage(covered=counts["covered"], failing=counts["failing"])


@dataclass(frozen=True)
class RuleMatches:
    """How many current findings a rule matches, and how many of those fail."""

    current: int
    failing: int


def exception_rule_matches(
    *,
    user,
    check_id: str = "",
    account_id: str = "",
    region: str = "",
    resource_pattern: str = "",
    tags: dict[str, str] | None = None,
) -> RuleMatches:
    """Count the current findings that a rule with these scope fields matches.

    The fields must already be valid (triage.services.exception_validate). Matching is
    triage.coverage's own: the database narrows by check, account, region and the glob's plain
    text, then CompiledException.matches decides. A rule that names only tags reads every current
    finding once, as a scan does.
    """
    rule = CompiledException.build(
        FindingException(
            kind=FindingException.Kind.FALSE_POSITIVE,
            scope=FindingException.Scope.RULE,
            check_id=check_id,
            account_id=account_id,
            region=region,
            resource_pattern=resource_pattern,
            tags=tags or {},
        )
    )
    findings = findings_visible(user=user).filter(is_current=True)
    if rule.check_id:
        findings = findings.filter(check_id=rule.check_id)
    if rule.account_id:
        findings = findings.filter(account__account_id=rule.account_id)
    if rule.region:
        findings = findings.filter(region=rule.region)
    if rule.literal:
        # A superset: SQLite's LIKE ignores case, and matches() below compares exactly.
        findings = findings.filter(resource_id__contains=rule.literal)
    current = failing = 0
    rows = findings.order_by().values_list("region", "resource_id", "tags", "status")
    for finding_region, resource_id, finding_tags, status in rows.iterator(chunk_size=2000):
        if rule.matches(region=finding_region, resource_id=resource_id, tags=finding_tags or {}):
            current += 1
            failing += status == Status.FAIL
    return RuleMatches(current=current, failing=failing)


# Exceptions in force, for the overview.
@dataclass(frozen=True)
class ExceptionInForce:
    """A valid exception and how many failing current findings of the accounts in scope it covers."""

    pk: int
    kind: str
    kind_label: str
    reason: str
    expires_at: dt.datetime | None
    failing: int


def exceptions_in_force(
    *, accounts: Iterable[int] | None = None, now: dt.datetime | None = None
) -> list[ExceptionInForce]:
    """Return the valid exceptions that cover failing current findings, soonest expiry first.

    `accounts` are Account pks (None for every account). These are the failures the headline score
    counts as passed and the raw score does not. One grouped query over the covered findings.
    """
    now = now or timezone.now()
    findings = Finding.objects.filter(
        is_current=True,
        status=Status.FAIL,
        exception__in=FindingException.objects.valid(now).values("pk"),
    )
    if accounts is not None:
        findings = findings.filter(account_id__in=list(accounts))
    rows = (
        findings.values("exception_id", "exception__kind", "exception__reason", "exception__expires_at")
        .annotate(failing=Count("id"))
        .order_by()
    )
    labels = dict(FindingException.Kind.choices)
    in_force = [
        ExceptionInForce(
            pk=row["exception_id"],
            kind=row["exception__kind"],
            kind_label=labels.get(row["exception__kind"], row["exception__kind"]),
            reason=row["exception__reason"],
            expires_at=row["exception__expires_at"],
            failing=row["failing"],
        )
        for row in rows
    ]
    # No expiry sorts last: it is the least urgent.
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(in_force, key=lambda item: (item.expires_at or far, item.pk))
