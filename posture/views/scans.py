"""Scans: the list and the scan page with its live progress."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from posture import scores
from posture.selectors import scans as scan_selectors
from posture.views.access import viewer_required

SCANS_PER_PAGE = 50
# How often a running scan's page refreshes its progress, in seconds.
SCAN_POLL_SECONDS = 5


@login_required
@require_GET
@viewer_required
def scan_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(scan_selectors.scan_list(), SCANS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "posture/scan_list.html", {"page": page})


@login_required
@require_GET
@viewer_required
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = get_object_or_404(scan_selectors.scan_detail_queryset(), pk=pk)
    context = {
        "scan": scan,
        "account_scans": scan_selectors.scan_account_scans(scan=scan),
        "scores": scores.scan_scores(scan) if scan.state in scan_selectors.SCORED_STATES else None,
        "poll_seconds": SCAN_POLL_SECONDS,
    }
    if request.htmx:
        response = render(request, "posture/scan_detail.html#scan-progress", context)
        if scan.is_finished:
            # 286 makes htmx swap this last state in and stop polling.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "posture/scan_detail.html", context)


# TODO: starting a scan from the dashboard is not written yet; it answers 404 until then.
@login_required
@require_POST
def scan_start(request: HttpRequest) -> HttpResponse:
    raise Http404("Not written yet.")
