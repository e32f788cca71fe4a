"""Writes of triage: a finding's state, assignee and comments, and the exceptions' life cycle.

Roles are checked here, on the server, whatever called the service: analysts and admins triage
and propose exceptions, and admins approve, reject, disable, enable and delete them. The author
of an exception cannot review it. A user without the role gets PermissionDenied. An object the
user may not see is Http404 (one finding) or a ValidationError naming it (a selection), and
nothing is written. Every change writes a FindingEvent with who, when, the old and new value.

Life cycle of an exception: proposed -> approved or rejected; approved -> expired at its expiry
(`exceptions_expire`, run every five minutes). `enabled` switches an exception off and on
without losing its review. Only an approved, enabled, unexpired exception covers findings.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.roles import can_triage, is_admin
from posture.models import Finding, FindingEvent
from triage.coverage import CoverageTarget, ExceptionIndex, Lapse, coverage_apply
from triage.models import FindingException
from triage.selectors import (
    BULK_MAX,
    CHUNK,  # noqa: F401 - part of this module's interface, as before it moved to the selectors
    EXCEPTION_STATES,
    MANUAL_STATES,  # noqa: F401 - part of this module's interface, as before it moved to the selectors
    chunked,
    exception_get,
    finding_get,
    finding_ids_parse,
    findings_bulk_preview,
    findings_visible_rows,
    validate_assignee,
    validate_manual_state,
)
from triage.validators import (
    validate_check_id,
    validate_expiry,
    validate_reason,
    validate_resource_pattern,
    validate_rule_account_id,
    validate_rule_region,
    validate_tags,
)

logger = logging.getLogger(__name__)

TriageState = Finding.TriageState
Kind = FindingEvent.Kind

EVENT_BATCH = 1000


# Roles.
def _require_triage(user) -> None:
    if not can_triage(user):
        raise PermissionDenied("Triage needs the analyst or admin role. Ask an admin to grant it.")


def _require_admin(user, action: str) -> None:
    if user is None or not is_admin(user):
        raise PermissionDenied(f"{action} an exception needs the admin role.")


# A finding's state, assignee and comments.
def finding_state_set(*, user, finding_id: int, state: str, comment: str = "") -> Finding:
    """Set the triage state of one finding. Setting the state it already has only adds the comment."""
    _require_triage(user)
    finding = finding_get(user=user, pk=finding_id)
    state = validate_manual_state(state)
    comment = (comment or "").strip()
    if finding.triage_state in EXCEPTION_STATES and finding.triage_state != state:
        raise ValidationError(
            "Finding %(pk)s is %(state)s under exception %(exception)s, which sets its state. Disable or "
            "delete the exception to change it.",
            code="state_set_by_exception",
            params={
                "pk": finding.pk,
                "state": finding.get_triage_state_display().lower(),
                "exception": finding.exception_id,
            },
        )
    now = timezone.now()
    with transaction.atomic():
        if finding.triage_state != state:
            FindingEvent.objects.create(
                finding=finding,
                kind=Kind.STATE_CHANGED,
                field="triage_state",
                old_value=finding.triage_state,
                new_value=state,
                actor=user,
                comment=comment,
                created_at=now,
            )
            finding.triage_state = state
            finding.save(update_fields=["triage_state"])
        elif comment:
            FindingEvent.objects.create(
                finding=finding, kind=Kind.COMMENTED, actor=user, comment=comment, created_at=now
            )
    return finding


def finding_assign(*, user, finding_id: int, assignee, comment: str = "") -> Finding:
    """Assign one finding to an analyst or admin, or unassign it with `assignee=None`."""
    _require_triage(user)
    finding = finding_get(user=user, pk=finding_id)
    if assignee is not None:
        validate_assignee(assignee)
    new_id = assignee.pk if assignee is not None else None
    if finding.assignee_id == new_id:
        return finding
    with transaction.atomic():
        FindingEvent.objects.create(
            finding=finding,
            kind=Kind.ASSIGNED,
            field="assignee",
            old_value=finding.assignee.get_username() if finding.assignee else "",
            new_value=assignee.get_username() if assignee is not None else "",
            actor=user,
            comment=(comment or "").strip(),
            created_at=timezone.now(),
        )
        finding.assignee = assignee
        finding.save(update_fields=["assignee"])
    return finding


def finding_comment(*, user, finding_id: int, text: str) -> FindingEvent:
    """Add a comment to one finding's timeline."""
    _require_triage(user)
    finding = finding_get(user=user, pk=finding_id)
    text = (text or "").strip()
    if not text:
        raise ValidationError("The comment is empty. Write something, or cancel.", code="comment_required")
    return FindingEvent.objects.create(
        finding=finding, kind=Kind.COMMENTED, actor=user, comment=text, created_at=timezone.now()
    )


def findings_bulk_triage(
    *,
    user,
    finding_ids: Iterable[Any],
    state: str | None = None,
    assignee=None,
    unassign: bool = False,
    comment: str = "",
) -> int:
    """Change the state and/or assignee of many findings, or comment on them, in one transaction.

    One UPDATE per changed field (per chunk of ids) and one bulk insert of events: one event per
    finding and changed field, the comment riding on the first of them (or its own "commented"
    event when nothing else changes). Every id must be a finding the user may see, or nothing is
    written. Returns how many findings got an event.
    """
    _require_triage(user)
    now = timezone.now()
    with transaction.atomic():
        plan = findings_bulk_preview(
            user=user,
            finding_ids=finding_ids,
            state=state,
            assignee=assignee,
            unassign=unassign,
            comment=comment,
            lock=True,
        )
        ids, rows, comment = plan.ids, plan.rows, plan.comment
        state_ids, assign_ids = plan.state_ids, plan.assign_ids
        new_assignee_id = assignee.pk if assignee is not None else None
        for chunk in chunked(state_ids):
            Finding.objects.filter(pk__in=chunk).update(triage_state=state)
        for chunk in chunked(assign_ids):
            Finding.objects.filter(pk__in=chunk).update(assignee_id=new_assignee_id)

        names = _usernames({rows[pk][1] for pk in assign_ids} | {new_assignee_id})
        # (finding id, kind, field, old value, new value, comment) per event.
        events: list[tuple[int, str, str, str, str, str]] = []
        with_comment: set[int] = set()

        def take_comment(pk: int) -> str:
            if not comment or pk in with_comment:
                return ""
            with_comment.add(pk)
            return comment

        for pk in state_ids:
            events.append((pk, Kind.STATE_CHANGED, "triage_state", rows[pk][0], state, take_comment(pk)))
        new_name = names.get(new_assignee_id, "")
        for pk in assign_ids:
            events.append(
                (pk, Kind.ASSIGNED, "assignee", names.get(rows[pk][1], ""), new_name, take_comment(pk))
            )
        if comment:
            events.extend((pk, Kind.COMMENTED, "", "", "", comment) for pk in ids if pk not in with_comment)
        _events_insert(events, actor=user, when=now)
    changed = len({event[0] for event in events})
    logger.info("User %s triaged %d of %d selected finding(s)", user.pk, changed, len(ids))
    return changed


def _events_insert(events: list[tuple[int, str, str, str, str, str]], *, actor, when: dt.datetime) -> None:
    """INSERT events of one actor at one time with executemany, without building model instances.

    FindingEvent.objects.bulk_create spent about 0.3 ms per event building and preparing model
    instances, which was most of a bulk action over 10,000 findings. The rows here are tuples.
    """
    connection = connections[FindingEvent.objects.db]
    quote = connection.ops.quote_name
    meta = FindingEvent._meta  # noqa: SLF001 - Django's documented model metadata API
    names = ("finding", "kind", "field", "old_value", "new_value", "comment", "actor", "created_at", "scan")
    columns = ", ".join(quote(meta.get_field(name).column) for name in names + ("old_status", "new_status"))
    placeholders = ", ".join(["%s"] * (len(names) + 2))
    # Only quoted names from the model go into the text; every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    created_at = meta.get_field("created_at").get_db_prep_save(when, connection)
    actor_id = actor.pk if actor is not None else None
    with connection.cursor() as cursor:
        for start in range(0, len(events), EVENT_BATCH):
            cursor.executemany(
                sql,
                [
                    (*event, actor_id, created_at, None, "", "")
                    for event in events[start : start + EVENT_BATCH]
                ],
            )


def _usernames(user_ids: set[int | None]) -> dict[int, str]:
    ids = [pk for pk in user_ids if pk is not None]
    if not ids:
        return {}
    user_model = get_user_model()
    return {
        pk: name
        for pk, name in user_model.objects.filter(pk__in=ids).values_list("pk", user_model.USERNAME_FIELD)
    }


# Exceptions.
def exception_propose(
    *,
    user,
    kind: str,
    reason: str,
    expires_at: dt.datetime | None = None,
    finding_ids: Iterable[Any] | None = None,
    check_id: str = "",
    account_id: str = "",
    region: str = "",
    resource_pattern: str = "",
    tags: dict[str, str] | None = None,
    source: str = "",
    now: dt.datetime | None = None,
) -> FindingException:
    """Propose an exception for listed findings (`finding_ids`) or for a rule (the scope fields).

    The exception covers nothing until an admin other than `user` approves it. Raises a
    ValidationError whose message_dict names each bad field, and then creates nothing.
    """
    _require_triage(user)
    now = now or timezone.now()
    fields = exception_validate(
        kind=kind,
        reason=reason,
        expires_at=expires_at,
        check_id=check_id,
        account_id=account_id,
        region=region,
        resource_pattern=resource_pattern,
        tags=tags,
        listed=finding_ids is not None,
        now=now,
    )
    with transaction.atomic():
        if finding_ids is not None:
            ids = finding_ids_parse(finding_ids)
            if not ids:
                raise ValidationError({"findings": ["No finding is selected. Select at least one."]})
            if len(ids) > BULK_MAX:
                raise ValidationError(
                    {
                        "findings": [
                            f"{len(ids)} findings are selected; an exception lists at most {BULK_MAX}."
                        ]
                    }
                )
            findings_visible_rows(user=user, ids=ids)
        exception = FindingException.objects.create(
            **fields,
            scope=FindingException.Scope.FINDINGS if finding_ids is not None else FindingException.Scope.RULE,
            source=source[:200],
            created_by=user,
        )
        if finding_ids is not None:
            through = FindingException.findings.through
            through.objects.bulk_create(
                [through(findingexception_id=exception.pk, finding_id=pk) for pk in ids],
                batch_size=EVENT_BATCH,
            )
    logger.info("User %s proposed exception %s (%s)", user.pk, exception.pk, exception.describe_scope())
    return exception


def exception_validate(
    *,
    kind: str,
    reason: str,
    expires_at: dt.datetime | None,
    check_id: str,
    account_id: str,
    region: str,
    resource_pattern: str,
    tags: dict[str, str] | None,
    listed: bool,
    now: dt.datetime,
) -> dict[str, Any]:
    """Return the cleaned model fields of a new exception, or raise one ValidationError per field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}

    def check(field: str, validate, value):
        try:
            cleaned[field] = validate(value)
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)

    if kind not in FindingException.Kind.values:
        errors["kind"] = [
            f"Unknown exception kind {kind!r}. Use one of: {', '.join(FindingException.Kind.values)}."
        ]
    cleaned["kind"] = kind
    check("reason", validate_reason, reason)
    check(
        "expires_at",
        lambda value: validate_expiry(value, required=kind == FindingException.Kind.RISK_ACCEPTED, now=now),
        expires_at,
    )
    scope = {
        "check_id": (check_id or "").strip(),
        "account_id": (account_id or "").strip(),
        "region": (region or "").strip(),
        "resource_pattern": (resource_pattern or "").strip(),
    }
    check("tags", validate_tags, tags)
    for field, validate in (
        ("check_id", validate_check_id),
        ("account_id", validate_rule_account_id),
        ("region", validate_rule_region),
        ("resource_pattern", validate_resource_pattern),
    ):
        try:
            validate(scope[field])
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    cleaned.update(scope)
    has_rule_field = any(scope.values()) or bool(tags)
    if listed and has_rule_field:
        errors.setdefault("scope", []).append(
            "An exception lists findings or describes a rule, not both. Clear the rule fields, or "
            "propose the rule on its own."
        )
    if not listed and not has_rule_field:
        errors.setdefault("scope", []).append(
            "A rule needs at least one of check, account, region, resource pattern or tag; a rule "
            "over every finding would hide the whole posture."
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


def _reviewable(user, exception_id: int, action: str) -> FindingException:
    _require_admin(user, action)
    exception = exception_get(user=user, pk=exception_id)
    if exception.created_by_id == user.pk:
        raise PermissionDenied(f"You proposed exception {exception.pk}, so another admin must review it.")
    if exception.state != FindingException.State.PROPOSED:
        raise ValidationError(
            "Exception %(pk)s is %(state)s; only a proposed exception can be reviewed.",
            code="not_proposed",
            params={"pk": exception.pk, "state": exception.get_state_display().lower()},
        )
    return exception


def exception_approve(
    *, user, exception_id: int, comment: str = "", now: dt.datetime | None = None
) -> FindingException:
    """Approve a proposed exception and apply it to the findings it matches, with events."""
    now = now or timezone.now()
    exception = _reviewable(user, exception_id, "Approving")
    if exception.expires_at is not None and exception.expires_at <= now:
        raise ValidationError(
            "Exception %(pk)s expired at %(when)s before it was approved. Propose it again with a "
            "new expiry.",
            code="expired_before_approval",
            params={"pk": exception.pk, "when": f"{exception.expires_at:%Y-%m-%d %H:%M} UTC"},
        )
    with transaction.atomic():
        # Conditional, so two admins approving at once cannot both apply it.
        claimed = FindingException.objects.filter(
            pk=exception.pk, state=FindingException.State.PROPOSED
        ).update(
            state=FindingException.State.APPROVED,
            reviewed_by=user,
            reviewed_at=now,
            review_comment=(comment or "").strip(),
            updated_at=now,
        )
        if not claimed:
            raise ValidationError(
                "Exception %(pk)s was reviewed by someone else meanwhile. Reload it.",
                code="reviewed_meanwhile",
                params={"pk": exception.pk},
            )
        exception.refresh_from_db()
        covered = coverage_refresh(_candidates(exception), now=now, actor=user)
    logger.info("User %s approved exception %s; %d finding(s) changed", user.pk, exception.pk, covered)
    return exception


def exception_reject(
    *, user, exception_id: int, comment: str, now: dt.datetime | None = None
) -> FindingException:
    """Reject a proposed exception, with a comment for its author."""
    now = now or timezone.now()
    exception = _reviewable(user, exception_id, "Rejecting")
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError(
            "Say why the exception is rejected, so its author can fix it.", code="comment_required"
        )
    exception.state = FindingException.State.REJECTED
    exception.reviewed_by = user
    exception.reviewed_at = now
    exception.review_comment = comment
    exception.save(update_fields=["state", "reviewed_by", "reviewed_at", "review_comment", "updated_at"])
    logger.info("User %s rejected exception %s", user.pk, exception.pk)
    return exception


def _require_approved(exception: FindingException, action: str) -> None:
    """Only an approved exception covers findings, so only it can be switched off and on."""
    if exception.state != FindingException.State.APPROVED:
        raise ValidationError(
            "Exception %(pk)s is %(state)s, so it covers no finding. Only an approved exception can be "
            "%(action)s.",
            code="not_approved",
            params={"pk": exception.pk, "state": exception.get_state_display().lower(), "action": action},
        )


def exception_disable(
    *, user, exception_id: int, comment: str = "", now: dt.datetime | None = None
) -> FindingException:
    """Switch an exception off: the findings it covered count as failing again, with events."""
    _require_admin(user, "Disabling")
    now = now or timezone.now()
    exception = exception_get(user=user, pk=exception_id)
    _require_approved(exception, "disabled")
    if not exception.enabled:
        return exception
    comment = (comment or "").strip()
    with transaction.atomic():
        exception.enabled = False
        exception.save(update_fields=["enabled", "updated_at"])
        why = f"Exception {exception.pk} was disabled by {user.get_username()}." + (
            f" {comment}" if comment else ""
        )
        restored = coverage_refresh(
            Finding.objects.filter(exception=exception),
            now=now,
            actor=user,
            lapse_override={exception.pk: Lapse(Kind.EXCEPTION_REMOVED, why)},
        )
    logger.info("User %s disabled exception %s; %d finding(s) restored", user.pk, exception.pk, restored)
    return exception


def exception_enable(*, user, exception_id: int, now: dt.datetime | None = None) -> FindingException:
    """Switch an exception on again; it covers findings again if it is approved and unexpired."""
    _require_admin(user, "Enabling")
    now = now or timezone.now()
    exception = exception_get(user=user, pk=exception_id)
    _require_approved(exception, "enabled")
    if exception.enabled:
        return exception
    with transaction.atomic():
        exception.enabled = True
        exception.save(update_fields=["enabled", "updated_at"])
        if exception.is_valid(now):
            coverage_refresh(_candidates(exception), now=now, actor=user)
    logger.info("User %s enabled exception %s", user.pk, exception.pk)
    return exception


def exception_delete(*, user, exception_id: int, now: dt.datetime | None = None) -> int:
    """Delete an exception after restoring the findings it covered; return how many were restored.

    Admins delete any exception; its author may withdraw it while it is still proposed.
    """
    if user is None or not can_triage(user):
        raise PermissionDenied("Deleting an exception needs the admin role, or the analyst who proposed it.")
    now = now or timezone.now()
    exception = exception_get(user=user, pk=exception_id)
    own_proposal = exception.created_by_id == user.pk and exception.state == FindingException.State.PROPOSED
    if not (is_admin(user) or own_proposal):
        raise PermissionDenied(
            f"Deleting exception {exception.pk} needs the admin role; its author may withdraw it only "
            "while it is proposed."
        )
    pk = exception.pk
    with transaction.atomic():
        why = f"Exception {pk} was deleted by {user.get_username()}."
        restored = coverage_refresh(
            Finding.objects.filter(exception_id=pk),
            now=now,
            actor=user,
            exclude=[pk],
            lapse_override={pk: Lapse(Kind.EXCEPTION_REMOVED, why)},
        )
        exception.delete()
    logger.info("User %s deleted exception %s; %d finding(s) restored", user.pk, pk, restored)
    return restored


def exceptions_expire(*, now: dt.datetime | None = None) -> int:
    """Mark exceptions past their expiry as expired and uncover their findings, with events.

    Also uncovers any finding whose stored exception is no longer valid for another reason (a
    change that bypassed the services), so the stored coverage heals itself. Safe to rerun: a
    second run finds nothing to change. Returns how many findings changed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = FindingException.objects.filter(
            state__in=[FindingException.State.PROPOSED, FindingException.State.APPROVED], expires_at__lte=now
        ).update(state=FindingException.State.EXPIRED, updated_at=now)
        stale = Finding.objects.filter(exception__isnull=False).exclude(
            exception__in=FindingException.objects.valid(now)
        )
        changed = coverage_refresh(stale, now=now, actor=None)
    if expired or changed:
        logger.info("Expired %d exception(s); %d finding(s) changed", expired, changed)
    return changed


# Coverage outside scans.
def _candidates(exception: FindingException) -> QuerySet[Finding]:
    """Return the findings an exception may cover, narrowed in the database as far as possible."""
    if exception.scope == FindingException.Scope.FINDINGS:
        return Finding.objects.filter(listed_in_exceptions=exception)
    findings = Finding.objects.all()
    if exception.check_id:
        findings = findings.filter(check_id=exception.check_id)
    if exception.account_id:
        findings = findings.filter(account__account_id=exception.account_id)
    if exception.region:
        findings = findings.filter(region=exception.region)
    prefix = _literal_prefix(exception.resource_pattern)
    if prefix:
        findings = findings.filter(resource_id__startswith=prefix)
    return findings


def _literal_prefix(pattern: str) -> str:
    """Return the text before the first wildcard of a glob ("" when it starts with one)."""
    for index, char in enumerate(pattern):
        if char in "*?[":
            return pattern[:index]
    return pattern


def coverage_refresh(
    findings: QuerySet[Finding],
    *,
    now: dt.datetime,
    actor,
    exclude: Iterable[int] = (),
    lapse_override: dict[int, Lapse] | None = None,
) -> int:
    """Re-evaluate which valid exception covers each of `findings` and save the changes with events.

    Reads and writes in chunks, so a rule over many findings does not hold them all in memory.
    Returns how many findings changed.
    """
    index = ExceptionIndex.load(now=now, exclude=exclude)
    ids = list(findings.order_by().values_list("pk", flat=True).distinct())
    changed = 0
    for chunk in chunked(ids):
        rows = list(
            Finding.objects.filter(pk__in=chunk)
            .select_related("account")
            .only(
                "pk",
                "check_id",
                "region",
                "resource_id",
                "tags",
                "status",
                "triage_state",
                "exception",
                "account__account_id",
            )
        )
        before = {finding.pk: (finding.exception_id, finding.triage_state) for finding in rows}
        events = coverage_apply(
            [CoverageTarget(finding, finding.account.account_id) for finding in rows],
            index=index,
            now=now,
            when=now,
            actor=actor,
            lapse_override=lapse_override,
        )
        updated = [f for f in rows if before[f.pk] != (f.exception_id, f.triage_state)]
        Finding.objects.bulk_update(updated, ["exception", "triage_state"], batch_size=500)
        FindingEvent.objects.bulk_create(events, batch_size=EVENT_BATCH)
        changed += len(updated)
    return changed
