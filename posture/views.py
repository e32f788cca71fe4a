"""Read-only dashboard pages: overview, findings and scans.

Every page needs a login and a role (viewer, analyst or admin, or a superuser). A logged-in user
without one gets 403. For an HTMX request a page renders only the partial that the request swaps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from accounts.roles import can_view
from posture import charts, scores, selectors
from posture.checks.base import SEVERITY_WEIGHTS, Area, CheckDefinition, registry
from posture.forms import FindingFilterForm
from posture.models import Finding
from posture.scoring import area_weights

FINDINGS_PER_PAGE = 50
SCANS_PER_PAGE = 50
ACCOUNTS_PER_PAGE = 50
# How often a running scan's page refreshes its progress, in seconds.
SCAN_POLL_SECONDS = 5


def viewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Reject with 403 a logged-in user who has no role that may read the dashboard."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_view(request.user):
            raise PermissionDenied(
                "Your user has no dashboard role. Ask an admin to add you to the viewer, analyst "
                "or admin group."
            )
        return view(request, *args, **kwargs)

    return wrapper


@login_required
@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    trend = selectors.score_trend()
    context = {
        "scan_in_progress": selectors.scan_in_progress(),
        "notes": selectors.scan_notes(),
        "severity_weights": [(severity.label, weight) for severity, weight in SEVERITY_WEIGHTS.items()],
        "area_weights": [(Area(area).label, weight) for area, weight in area_weights(registry()).items()],
    }
    if not trend:
        return render(request, "posture/overview.html", context)

    latest = trend[-1]
    ranking = Paginator(selectors.account_ranking(scan_id=latest.scan_id), ACCOUNTS_PER_PAGE)
    ranking_page = ranking.get_page(request.GET.get("page"))
    context.update(
        {
            "latest": latest,
            "cards": selectors.score_cards(trend),
            "change_days": selectors.CHANGE_PERIODS_DAYS,
            "changes": selectors.scan_changes(scan_id=latest.scan_id),
            "figure": charts.score_trend_figure(trend),
            "areas": list(Area),
            "ranking_page": ranking_page,
            "ranking_rows": selectors.account_rank_rows(ranking_page.object_list),
        }
    )
    return render(request, "posture/overview.html", context)


@login_required
@require_GET
@viewer_required
def finding_list(request: HttpRequest) -> HttpResponse:
    form = FindingFilterForm(request.GET)
    findings = selectors.finding_list(**form.filters())
    page = Paginator(findings, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "check_titles": {check_id: d.title for check_id, d in registry().items()},
    }
    if request.htmx:
        return render(request, "posture/finding_list.html#finding-table", context)
    return render(request, "posture/finding_list.html", context)


@login_required
@require_GET
@viewer_required
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(selectors.finding_detail_queryset(), pk=pk)
    # A check renamed or removed since the finding was stored has no definition any more.
    definition = registry().get(finding.check_id)
    context = {
        "finding": finding,
        "definition": definition,
        "thresholds": _thresholds_used(finding, definition),
        "events": selectors.finding_events(finding=finding),
    }
    return render(request, "posture/finding_detail.html", context)


def _thresholds_used(finding: Finding, definition: CheckDefinition | None) -> list[dict]:
    """Return the thresholds stored with the finding, with unit and description when the check has them."""
    known = {t.name: t for t in definition.thresholds} if definition else {}
    rows = []
    for name, value in sorted(finding.thresholds.items()):
        threshold = known.get(name)
        rows.append(
            {
                "name": name,
                "value": value,
                "unit": threshold.unit if threshold else "",
                "description": threshold.description if threshold else "",
            }
        )
    return rows


@login_required
@require_GET
@viewer_required
def scan_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.scan_list(), SCANS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "posture/scan_list.html", {"page": page})


@login_required
@require_GET
@viewer_required
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = get_object_or_404(selectors.scan_detail_queryset(), pk=pk)
    context = {
        "scan": scan,
        "account_scans": selectors.scan_account_scans(scan=scan),
        "scores": scores.scan_scores(scan) if scan.state in selectors.SCORED_STATES else None,
        "poll_seconds": SCAN_POLL_SECONDS,
    }
    if request.htmx:
        response = render(request, "posture/scan_detail.html#scan-progress", context)
        if scan.is_finished:
            # 286 makes htmx swap this last state in and stop polling.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "posture/scan_detail.html", context)
