"""Bulk triage from the findings table: review what changes, then confirm.

The first POST checks the selection and the action and returns a confirmation that states how many
findings change and how, writing nothing. The confirmation posts the same fields again with
`confirm`, and only then does the service run. With htmx the responses are partials of the
findings page: the confirmation (with the panel again, cleared of earlier errors), the panel with
its errors, or the refreshed table. Without JavaScript they are a page of their own, and a
confirmed action redirects to the list.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.roles import can_triage
from posture.forms import BULK_TRIAGE, BulkExceptionPreview, BulkTriageForm
from posture.models import Finding
from posture.views.findings import finding_table_context
from triage import services
from triage.models import FindingException
from triage.selectors import BulkTriagePreview

logger = logging.getLogger(__name__)

TEMPLATE = "posture/finding_bulk.html"
LIST_TEMPLATE = "posture/finding_list.html"
# Each kind of exception as the subject of the review's sentence.
EXCEPTION_NOUNS = {
    FindingException.Kind.RISK_ACCEPTED: "an accepted-risk exception",
    FindingException.Kind.FALSE_POSITIVE: "a false-positive exception",
}


@login_required
@require_POST
def finding_bulk(request: HttpRequest) -> HttpResponse:
    if not can_triage(request.user):
        raise PermissionDenied("Bulk triage needs the analyst or admin role. Ask an admin to grant it.")
    form = BulkTriageForm(request.POST, user=request.user)
    if not form.is_valid():
        return _rejected(request, form)
    if not form.cleaned_data["confirm"]:
        context = {"bulk_form": form, **_summary(form)}
        template = f"{TEMPLATE}#bulk-review" if request.htmx else TEMPLATE
        return render(request, template, context)
    try:
        message = _apply(request, form)
    except ValidationError as exc:
        # The findings changed between the review and the confirmation, for instance one was deleted.
        form.add_error(None, exc)
        return _rejected(request, form)
    filters = form.cleaned_data["filters"]
    list_url = reverse("posture:finding-list") + (f"?{filters}" if filters else "")
    if not request.htmx:
        messages.success(request, message)
        return redirect(list_url)
    context = {**finding_table_context(request, query=QueryDict(filters)), "bulk_message": message}
    response = render(request, f"{LIST_TEMPLATE}#finding-table", context)
    # The table shows the first page of the filters again, so the URL in the address bar matches it.
    response["HX-Replace-Url"] = list_url
    return response


def _rejected(request: HttpRequest, form: BulkTriageForm) -> HttpResponse:
    """Show the form's errors: in the panel for htmx, or on the confirmation page. Nothing was written."""
    logger.info("User %s: bulk action rejected: %s", request.user.pk, form.errors.get_json_data())
    if not request.htmx:
        return render(request, TEMPLATE, {"bulk_form": form, **_back_link(form)}, status=422)
    context = {"bulk_form": form, "clear_confirmation": True}
    response = render(request, f"{LIST_TEMPLATE}#bulk-panel", context, status=422)
    # The panel is rendered even when the confirmation posted, so the errors show next to the fields.
    response["HX-Retarget"] = "#bulk-panel"
    response["HX-Reswap"] = "outerHTML"
    return response


def _back_link(form: BulkTriageForm) -> dict[str, str]:
    filters = form.data.get("filters", "")
    return {"list_url": reverse("posture:finding-list") + (f"?{filters}" if filters else "")}


def _summary(form: BulkTriageForm) -> dict:
    """Return the confirmation's sentences, and whether there is anything to confirm.

    The sentences state how many findings are selected and what changes. A triage that changes no
    finding has nothing to confirm.
    """
    preview = form.cleaned_data["preview"]
    selected = preview.selected
    head = f"{selected:,} finding{pluralize(selected)} selected"
    if form.cleaned_data["all_matching"]:
        head += " (every finding that matches the filters)"
    may_confirm = True
    if isinstance(preview, BulkExceptionPreview):
        sentence = _exception_sentence(preview)
    elif preview.changed:
        sentence = _triage_sentence(preview)
    else:
        sentence = _no_change_sentence(preview)
        may_confirm = False
    return {**_back_link(form), "summary": f"{head}: {sentence}", "may_confirm": may_confirm}


def _triage_sentence(preview: BulkTriagePreview) -> str:
    parts = []
    if preview.state is not None:
        label = Finding.TriageState(preview.state).label
        parts.append(f"{len(preview.state_ids):,} change state to {label}")
    if preview.assignee is not None:
        parts.append(f"{len(preview.assign_ids):,} get assignee {preview.assignee.get_username()}")
    elif preview.change_assignee:
        parts.append(f"{len(preview.assign_ids):,} lose their assignee")
    sentence = ", ".join(parts)
    if parts and preview.unchanged:
        have = "them" if len(parts) > 1 else "it"
        verb = "has" if preview.unchanged == 1 else "have"
        sentence += f"; {preview.unchanged:,} already {verb} {have}"
    if preview.kept_ids:
        excepted = len(preview.kept_ids)
        keeps = "keeps the state its" if excepted == 1 else "keep the state their"
        sentence += f"; {excepted:,} {keeps} exception sets"
    if preview.comment:
        every = "the finding gets" if preview.selected == 1 else f"all {preview.selected:,} get"
        sentence += ("; " if parts else "") + f"{every} the comment"
    return sentence + "."


def _no_change_sentence(preview: BulkTriagePreview) -> str:
    """Return the review's sentence for a triage without a comment that changes no finding."""
    if preview.kept_ids:
        excepted = len(preview.kept_ids)
        rest = preview.selected - excepted
        if rest == 0:
            states_come = "its state comes" if excepted == 1 else "their states come"
            cause = f"{states_come} from an exception"
        else:
            has = "has" if excepted == 1 else "have"
            rest_has = "has" if rest == 1 else "have"
            cause = (
                f"{excepted:,} {has} the state an exception sets and the other {rest:,} already "
                f"{rest_has} these values"
            )
        return (
            f"nothing would change, because {cause}. A state set by an exception changes only when the "
            "exception expires or is disabled or deleted. Choose other values, or add a comment."
        )
    values = []
    if preview.state is not None:
        values.append(f"the state {Finding.TriageState(preview.state).label}")
    if preview.assignee is not None:
        values.append(f"the assignee {preview.assignee.get_username()}")
    elif preview.change_assignee:
        values.append("no assignee")
    if preview.selected == 1:
        have = "it already has"
    elif preview.selected == 2:
        have = "both already have"
    else:
        have = f"all {preview.selected:,} already have"
    return (
        f"nothing would change, because {have} {' and '.join(values)}. Choose other values, or add a comment."
    )


def _exception_sentence(preview: BulkExceptionPreview) -> str:
    expiry = f"expiring {preview.expires_at:%Y-%m-%d}" if preview.expires_at else "without expiry"
    them = "it" if preview.selected == 1 else "them"
    sentence = (
        f"{EXCEPTION_NOUNS[preview.kind]} {expiry} will be proposed for {them}. "
        f"{_covers_once_approved(preview.selected)}"
    )
    if preview.covered and preview.selected == 1:
        sentence += " Another exception covers it already."
    elif preview.covered:
        are = pluralize(preview.covered, "is,are")
        sentence += f" {preview.covered:,} of them {are} covered by another exception already."
    return sentence


def _covers_once_approved(selected: int) -> str:
    # The proposer may be an analyst, and an admin may not approve their own proposal.
    findings = "the finding" if selected == 1 else "them"
    return f"It covers {findings} once an admin other than you approves it."


def _apply(request: HttpRequest, form: BulkTriageForm) -> str:
    """Run the reviewed action through its service and return the success message."""
    data = form.cleaned_data
    preview = data["preview"]
    if data["action"] == BULK_TRIAGE:
        changed = services.findings_bulk_triage(
            user=request.user,
            finding_ids=preview.ids,
            state=preview.state,
            assignee=preview.assignee,
            unassign=preview.change_assignee and preview.assignee is None,
            comment=preview.comment,
        )
        return f"{changed:,} of {preview.selected:,} finding{pluralize(preview.selected)} changed."
    exception = services.exception_propose(
        user=request.user,
        kind=preview.kind,
        reason=preview.reason,
        expires_at=preview.expires_at,
        finding_ids=preview.ids,
    )
    return (
        f"Exception {exception.pk} proposed for {preview.selected:,} finding{pluralize(preview.selected)}. "
        f"{_covers_once_approved(preview.selected)}"
    )
