"""Exception pages: the list, one exception with its review actions, and the form to propose a rule.

Every POST checks the role before it reads the request's body, and again in triage.services:
PermissionDenied becomes a 403 (the page shows its message) and Http404 a 404 by Django's own
handling. A ValidationError writes nothing and comes back as a message on the exception's page.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timeuntil
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import can_triage, is_admin
from posture.checks.base import registry
from posture.forms import AWAITING_MY_REVIEW, ExceptionFilterForm, ExceptionRuleForm
from posture.views.access import viewer_required
from triage import selectors, services
from triage.models import FindingException

logger = logging.getLogger(__name__)

EXCEPTIONS_PER_PAGE = 100
# The detail page lists this many of the findings an exception lists, then the count of the rest.
LISTED_FINDINGS_SHOWN = 50
FORM_TEMPLATE = "posture/exception_form.html"
PREVIEW_PARTIAL = f"{FORM_TEMPLATE}#rule-preview"
# The rule form's preview before any scope was checked.
_NO_PREVIEW = {"rule_matches": None, "scope_invalid": False, "preview_errors": []}
# Scores come from scan snapshots: a new exception lifts the headline score from the next scan,
# while an expired or removed one stops counting at once (posture/score_lapses.py).
NEXT_SCAN_NOTE = "The headline score counts it from the next scan."


def admin_required(action: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Reject with 403 a user who is not an admin, before the view reads the request.

    `action` starts the message, as in the services: "Disabling" gives "Disabling an exception
    needs the admin role."
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not is_admin(request.user):
                raise PermissionDenied(f"{action} an exception needs the admin role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@login_required
@require_GET
@viewer_required
def exception_list(request: HttpRequest) -> HttpResponse:
    may_review = is_admin(request.user)
    form = ExceptionFilterForm(request.GET, may_review=may_review)
    state, kind = form.values()
    if state == AWAITING_MY_REVIEW:
        exceptions = selectors.exceptions_awaiting_review(user=request.user, kind=kind)
    else:
        exceptions = selectors.exception_list(user=request.user, state=state, kind=kind)
    paginator = Paginator(exceptions, EXCEPTIONS_PER_PAGE)
    context = {
        "form": form,
        "ignored": form.ignored_messages(),
        "filter_query": urlencode(
            {name: value for name, value in (("state", state), ("kind", kind)) if value}
        ),
        "page": paginator.get_page(request.GET.get("page")),
        "expiring": selectors.exceptions_expiring(user=request.user),
        "expiring_days": selectors.EXPIRING_WITHIN_DAYS,
        "awaiting_count": selectors.exceptions_awaiting_review(user=request.user).count()
        if may_review
        else 0,
        "awaiting_state": AWAITING_MY_REVIEW,
        "may_propose": can_triage(request.user),
    }
    return render(request, "posture/exception_list.html", context)


@login_required
@require_GET
@viewer_required
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = selectors.exception_get(user=request.user, pk=pk)
    return render(request, "posture/exception_detail.html", _detail_context(request, exception))


def _detail_context(request: HttpRequest, exception: FindingException) -> dict:
    """Return what the exception page shows, and which actions its reader may take."""
    user = request.user
    now = timezone.now()
    admin = is_admin(user)
    proposed = exception.state == FindingException.State.PROPOSED
    approved = exception.state == FindingException.State.APPROVED
    own = exception.created_by_id == user.pk
    context = {
        "exception": exception,
        "expiry_note": _expiry_note(exception.expires_at, now=now),
        "coverage": selectors.exception_coverage(user=user, exception=exception),
        "check_known": exception.check_id in registry(),
        "may_review": admin and proposed and not own,
        "own_proposal": admin and proposed and own,
        # Only an approved exception covers findings, so only it has anything to switch off or on.
        "may_disable": admin and approved and exception.enabled,
        "may_enable": admin and approved and not exception.enabled,
        "may_delete": admin or (own and proposed and can_triage(user)),
        "withdraws": _withdraws(user, exception),
        "listed_findings": [],
        "listed_count": 0,
        "listed_more": 0,
        "rule_matches": None,
    }
    if exception.scope == FindingException.Scope.FINDINGS:
        listed = selectors.exception_listed_findings(user=user, exception=exception)
        first_findings = list(listed[:LISTED_FINDINGS_SHOWN])
        count = len(first_findings) if len(first_findings) < LISTED_FINDINGS_SHOWN else listed.count()
        context.update(
            {
                "listed_findings": first_findings,
                "listed_count": count,
                "listed_more": count - len(first_findings),
            }
        )
    elif proposed:
        # What a reviewer approves: the findings this rule would cover today.
        context["rule_matches"] = selectors.exception_rule_matches(
            user=user,
            check_id=exception.check_id,
            account_id=exception.account_id,
            region=exception.region,
            resource_pattern=exception.resource_pattern,
            tags=exception.tags,
        )
    return context


def _withdraws(user, exception: FindingException) -> bool:
    """Tell whether deleting `exception` is its author taking back a proposal not reviewed yet."""
    return exception.created_by_id == user.pk and exception.state == FindingException.State.PROPOSED


def _expiry_note(expires_at: dt.datetime | None, *, now: dt.datetime) -> str:
    """Say how long until the expiry, as the overview does, or that it has passed ("" without one)."""
    if expires_at is None:
        return ""
    if expires_at <= now:
        return "expired"
    return f"expires in {timeuntil(expires_at, now)}"


def _detail_url(pk: int) -> str:
    return reverse("posture:exception-detail", args=[pk])


def _run(
    request: HttpRequest, pk: int, action: Callable[[], str], *, done_url: str = ""
) -> HttpResponseRedirect:
    """Run one action on exception `pk` and redirect with its message, to `done_url` if it succeeded.

    After a ValidationError the service has written nothing, and the user goes back to the
    exception's page with the message.
    """
    try:
        success = action()
    except ValidationError as exc:
        logger.info("User %s: action on exception %s rejected: %s", request.user.pk, pk, exc.messages)
        messages.error(request, " ".join(exc.messages))
        return redirect(_detail_url(pk))
    messages.success(request, success)
    return redirect(done_url or _detail_url(pk))


def _covers(count: int) -> str:
    return f"{count} finding{'' if count == 1 else 's'}"


@login_required
@require_POST
@admin_required("Approving")
def exception_approve(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        exception = services.exception_approve(
            user=request.user, exception_id=pk, comment=request.POST.get("comment", "")
        )
        covered = selectors.exception_covered_count(user=request.user, exception=exception)
        return f"Exception {pk} approved. It covers {_covers(covered)} now. {NEXT_SCAN_NOTE}"

    return _run(request, pk, action)


@login_required
@require_POST
@admin_required("Rejecting")
def exception_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        services.exception_reject(user=request.user, exception_id=pk, comment=request.POST.get("comment", ""))
        return f"Exception {pk} rejected."

    return _run(request, pk, action)


@login_required
@require_POST
@admin_required("Disabling")
def exception_disable(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        # The service rejects an exception that is not approved, naming its state.
        was_enabled = selectors.exception_get(user=request.user, pk=pk).enabled
        services.exception_disable(
            user=request.user, exception_id=pk, comment=request.POST.get("comment", "")
        )
        if not was_enabled:
            return f"Exception {pk} was already disabled."
        return (
            f"Exception {pk} disabled. The failing findings it covered are open again, and the scores "
            "count them as failing from the next scan."
        )

    return _run(request, pk, action)


@login_required
@require_POST
@admin_required("Enabling")
def exception_enable(request: HttpRequest, pk: int) -> HttpResponse:
    def action() -> str:
        # The service rejects an exception that is not approved, naming its state.
        was_enabled = selectors.exception_get(user=request.user, pk=pk).enabled
        exception = services.exception_enable(user=request.user, exception_id=pk)
        if was_enabled:
            return f"Exception {pk} was already enabled."
        if not exception.is_valid(timezone.now()):
            # Approved, but past its expiry before the expiry task marked it expired.
            return (
                f"Exception {pk} enabled, but it expired at {exception.expires_at:%Y-%m-%d %H:%M} UTC, "
                "so it covers no finding."
            )
        covered = selectors.exception_covered_count(user=request.user, exception=exception)
        return f"Exception {pk} enabled. It covers {_covers(covered)} now. {NEXT_SCAN_NOTE}"

    return _run(request, pk, action)


@login_required
@require_http_methods(["GET", "POST"])
@viewer_required
def exception_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Show what deleting the exception changes (GET), then delete it (POST).

    Admins delete any exception; the analyst who proposed one may withdraw it while it is proposed.
    """
    if request.method == "POST":
        if not can_triage(request.user):
            raise PermissionDenied(
                "Deleting an exception needs the admin role, or the analyst who proposed it."
            )

        def action() -> str:
            withdraws = _withdraws(request.user, selectors.exception_get(user=request.user, pk=pk))
            restored = services.exception_delete(user=request.user, exception_id=pk)
            if withdraws:
                return f"Exception {pk} withdrawn."
            if restored == 0:
                return f"Exception {pk} deleted. No finding changed."
            return f"Exception {pk} deleted. {_covers(restored).capitalize()} changed state or exception."

        return _run(request, pk, action, done_url=reverse("posture:exception-list"))

    exception = selectors.exception_get(user=request.user, pk=pk)
    context = _detail_context(request, exception)
    if not context["may_delete"]:
        raise PermissionDenied(
            f"Deleting exception {pk} needs the admin role. Its author may withdraw it only while it "
            "is proposed."
        )
    context["confirm_delete"] = True
    return render(request, "posture/exception_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def exception_new(request: HttpRequest) -> HttpResponse:
    """Propose a rule. A POST with `preview` counts the current findings it matches and writes nothing."""
    if not can_triage(request.user):
        raise PermissionDenied(
            "Proposing an exception needs the analyst or admin role. Ask an admin to grant it."
        )
    if request.method == "GET":
        return render(request, FORM_TEMPLATE, {"form": ExceptionRuleForm(), **_NO_PREVIEW})

    form = ExceptionRuleForm(request.POST)
    if "preview" in request.POST:
        form.drop_errors_outside_scope()
        if request.htmx:
            # Only the preview is swapped in, so it names the scope errors the fields cannot show.
            context = {"form": form, **_preview_context(request, form, list_errors=True)}
            return render(request, PREVIEW_PARTIAL, context)
        return render(request, FORM_TEMPLATE, {"form": form, **_preview_context(request, form)})

    if form.is_valid():
        try:
            exception = services.exception_propose(user=request.user, **form.proposal())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Exception {exception.pk} proposed. It covers the findings it matches once an admin "
                "other than you approves it.",
            )
            return redirect(_detail_url(exception.pk))
    context = {"form": form, **_preview_context(request, form)}
    return render(request, FORM_TEMPLATE, context, status=422)


def _preview_context(request: HttpRequest, form: ExceptionRuleForm, *, list_errors: bool = False) -> dict:
    """Return the count of current findings the form's rule matches, or that the scope is invalid.

    The whole page shows each error next to its field, so the preview lists the messages only
    with `list_errors`, for the partial that htmx swaps in alone.
    """
    rule = form.rule()
    if rule is None:
        return {
            **_NO_PREVIEW,
            "scope_invalid": True,
            "preview_errors": form.scope_errors() if list_errors else [],
        }
    return {**_NO_PREVIEW, "rule_matches": selectors.exception_rule_matches(user=request.user, **rule)}
