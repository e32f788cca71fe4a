"""Triage on the finding page. The exception pages are in posture.views.exceptions.

Every POST checks the role before it reads the request's body, so a viewer gets 403 whatever
the form holds, and triage.services checks it again: PermissionDenied becomes a 403 and Http404
a 404 by Django's own handling. A ValidationError leaves everything unchanged and sends the user
back to the finding page with its message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.roles import ADMIN, ANALYST, can_triage, is_admin
from posture.forms import assignee_from_value
from posture.models import Finding
from triage import selectors, services
from triage.models import FindingException

logger = logging.getLogger(__name__)


def triage_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject with 403 a user who may not triage, before the view parses any value it was sent."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_triage(request.user):
            raise PermissionDenied("Triage needs the analyst or admin role. Ask an admin to grant it.")
        return view(request, *args, **kwargs)

    return wrapper


def triage_context(request: HttpRequest, finding: Finding) -> dict:
    """Return what the finding page's triage card and timeline need, in a fixed number of queries."""
    may_triage = can_triage(request.user)
    proposed = list(
        finding.listed_in_exceptions.filter(state=FindingException.State.PROPOSED, enabled=True)
        .select_related("created_by")
        .order_by("created_at", "id")
    )
    timeline = list(selectors.finding_timeline(user=request.user, finding=finding))
    return {
        "timeline": timeline,
        "timeline_exceptions": _existing_exceptions(timeline),
        "may_triage": may_triage,
        "may_review": is_admin(request.user),
        "proposed_exceptions": proposed,
        "manual_states": [(state.value, state.label) for state in services.MANUAL_STATES],
        "assignees": _assignable_users() if may_triage else [],
        "exception_kinds": FindingException.Kind.choices,
    }


def _existing_exceptions(timeline: list) -> set[int]:
    """Return the ids of the exceptions named in the timeline that still exist, to link them."""
    named = {
        int(value)
        for event in timeline
        if event.field == "exception"
        for value in (event.old_value, event.new_value)
        if value.isdigit()
    }
    if not named:
        return set()
    return set(FindingException.objects.filter(pk__in=named).values_list("pk", flat=True))


def _assignable_users() -> list:
    user_model = get_user_model()
    return list(
        user_model.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=(ANALYST, ADMIN)))
        .distinct()
        .order_by(user_model.USERNAME_FIELD)
    )


def _finding_url(pk: int) -> str:
    return reverse("posture:finding-detail", args=[pk])


def _apply(request: HttpRequest, pk: int, action: Callable[[], str]) -> HttpResponseRedirect:
    """Run one triage action and redirect to the finding page with its success or error message."""
    try:
        success = action()
    except ValidationError as exc:
        logger.info("User %s: triage of finding %s rejected: %s", request.user.pk, pk, exc.messages)
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, success)
    return redirect(_finding_url(pk))


@login_required
@require_POST
@triage_required
def finding_state_set(request: HttpRequest, pk: int) -> HttpResponse:
    state = request.POST.get("state", "")

    def action() -> str:
        finding = services.finding_state_set(
            user=request.user, finding_id=pk, state=state, comment=request.POST.get("comment", "")
        )
        return f"Triage state set to {finding.get_triage_state_display()}."

    return _apply(request, pk, action)


@login_required
@require_POST
@triage_required
def finding_assign(request: HttpRequest, pk: int) -> HttpResponse:
    value = request.POST.get("assignee", "").strip()

    def action() -> str:
        assignee = assignee_from_value(value)
        services.finding_assign(user=request.user, finding_id=pk, assignee=assignee)
        return f"Assigned to {assignee.get_username()}." if assignee else "Unassigned."

    return _apply(request, pk, action)


@login_required
@require_POST
@triage_required
def finding_comment(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        services.finding_comment(user=request.user, finding_id=pk, text=request.POST.get("text", ""))
        return "Comment added."

    return _apply(request, pk, action)


@login_required
@require_POST
@triage_required
def exception_propose(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        exception = services.exception_propose(
            user=request.user,
            kind=request.POST.get("kind", ""),
            reason=request.POST.get("reason", ""),
            expires_at=_expiry_from_form(request.POST.get("expires_on", "")),
            finding_ids=[pk],
        )
        return (
            f"Exception {exception.pk} proposed. It covers the finding once an admin other than you "
            "approves it."
        )

    return _apply(request, pk, action)


def _expiry_from_form(value: str) -> dt.datetime | None:
    """Return 00:00 UTC of the date `value` (YYYY-MM-DD), None for an empty value."""
    value = value.strip()
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "The expiry %(value)r is not a valid date. Use the form YYYY-MM-DD.", params={"value": value}
        ) from None
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


@login_required
@require_POST
@triage_required
def exception_approve(request: HttpRequest, pk: int, exception_pk: int) -> HttpResponse:
    def action() -> str:
        services.exception_approve(
            user=request.user, exception_id=exception_pk, comment=request.POST.get("comment", "")
        )
        return f"Exception {exception_pk} approved. The headline score counts it from the next scan."

    return _apply(request, pk, action)


@login_required
@require_POST
@triage_required
def exception_reject(request: HttpRequest, pk: int, exception_pk: int) -> HttpResponse:
    def action() -> str:
        services.exception_reject(
            user=request.user, exception_id=exception_pk, comment=request.POST.get("comment", "")
        )
        return f"Exception {exception_pk} rejected."

    return _apply(request, pk, action)
