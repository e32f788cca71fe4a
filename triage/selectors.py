"""Reads for triage: the findings and exceptions a user may see, and what expires soon.

Every read takes the user and returns nothing (or raises Http404) for a user without a dashboard
role, so a page cannot show an object its reader may not see.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.roles import can_view
from posture.models import Finding, FindingEvent
from triage.models import FindingException

EXPIRING_WITHIN_DAYS = 30


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
