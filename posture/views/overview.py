"""The overview page: scores, their trend and the account ranking."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from posture import charts
from posture.checks.base import SEVERITY_WEIGHTS, Area, registry
from posture.scoring import area_weights
from posture.selectors import overview as overview_selectors
from posture.views.access import viewer_required

ACCOUNTS_PER_PAGE = 50


@login_required
@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    trend = overview_selectors.score_trend()
    context = {
        "scan_in_progress": overview_selectors.scan_in_progress(),
        "notes": overview_selectors.scan_notes(),
        "severity_weights": [(severity.label, weight) for severity, weight in SEVERITY_WEIGHTS.items()],
        "area_weights": [(Area(area).label, weight) for area, weight in area_weights(registry()).items()],
    }
    if not trend:
        return render(request, "posture/overview.html", context)

    latest = trend[-1]
    ranking = Paginator(overview_selectors.account_ranking(scan_id=latest.scan_id), ACCOUNTS_PER_PAGE)
    ranking_page = ranking.get_page(request.GET.get("page"))
    context.update(
        {
            "latest": latest,
            "cards": overview_selectors.score_cards(trend),
            "change_days": overview_selectors.CHANGE_PERIODS_DAYS,
            "changes": overview_selectors.scan_changes(scan_id=latest.scan_id),
            "figure": charts.score_trend_figure(trend),
            "areas": list(Area),
            "ranking_page": ranking_page,
            "ranking_rows": overview_selectors.account_rank_rows(ranking_page.object_list),
        }
    )
    return render(request, "posture/overview.html", context)
