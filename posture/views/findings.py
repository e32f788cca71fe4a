"""Findings: the filterable list and the finding page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from posture.checks.base import Area, CheckDefinition, registry
from posture.forms import FindingFilterForm
from posture.models import Finding
from posture.selectors import findings as finding_selectors
from posture.views.access import viewer_required
from posture.views.drilldown import breadcrumbs

FINDINGS_PER_PAGE = 50


@login_required
@require_GET
@viewer_required
def finding_list(request: HttpRequest) -> HttpResponse:
    form = FindingFilterForm(request.GET)
    findings = finding_selectors.finding_list(**form.filters())
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
    finding = get_object_or_404(finding_selectors.finding_detail_queryset(), pk=pk)
    # A check renamed or removed since the finding was stored has no definition any more.
    definition = registry().get(finding.check_id)
    context = {
        "finding": finding,
        "definition": definition,
        "thresholds": _thresholds_used(finding, definition),
        "events": finding_selectors.finding_events(finding=finding),
        "breadcrumbs": breadcrumbs(
            area=Area(finding.area),
            check=definition or finding.check_id,
            account=finding.account,
            finding=finding,
        ),
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


# TODO: the exports are not written yet; they answer 404 until then.
@login_required
@require_GET
@viewer_required
def finding_export_csv(request: HttpRequest) -> HttpResponse:
    raise Http404("Not written yet.")


@login_required
@require_GET
@viewer_required
def finding_export_json(request: HttpRequest) -> HttpResponse:
    raise Http404("Not written yet.")
