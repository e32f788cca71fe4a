"""Drill-down pages: area, then check, then one account's resources under a check.

Each level is a page with its own URL. Links between levels are boosted by htmx (`hx-boost`), so
the browser swaps the page body and pushes the URL, and every page still renders in full without
htmx. A boosted request and a history restore get the full page. Only the status filter and the
pagination of the check-account page request a partial.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.models import Account
from posture.checks.base import Area, CheckDefinition, Status, registry
from posture.models import Finding
from posture.selectors import drilldown as drilldown_selectors
from posture.selectors.drilldown import FailingPoint, StatusCounts
from posture.views.access import viewer_required

# Failing resources listed on the check page; the findings list shows the rest.
CHECK_FAILING_SHOWN = 50
RESOURCES_PER_PAGE = 100
# Longer resource ids are cut from the left in the breadcrumbs, because the end of an ARN names
# the resource.
CRUMB_MAX_CHARS = 48


# Breadcrumbs.
@dataclass(frozen=True)
class Crumb:
    label: str
    url: str = ""  # empty for the current page
    title: str = ""  # the full label when `label` is shortened
    # Pages outside the drill-down load their own scripts, so links to them are not boosted.
    boost: bool = True


def breadcrumbs(
    *,
    area: Area,
    check: CheckDefinition | str | None = None,
    account: Account | None = None,
    finding: Finding | None = None,
) -> list[Crumb]:
    """Build Overview > Area > Check > Account > Finding down to the deepest level given.

    `check` is a check id when the check is no longer registered: it then has no page, and
    neither has its account level.
    """
    crumbs = [
        Crumb("Overview", reverse("posture:overview"), boost=False),
        Crumb(area.label, reverse("posture:area-detail", args=[area.value])),
    ]
    if isinstance(check, CheckDefinition):
        crumbs.append(Crumb(check.title, reverse("posture:check-detail", args=[check.id])))
    elif check is not None:
        crumbs.append(Crumb(check))
    if account is not None:
        url = (
            reverse("posture:check-account-detail", args=[check.id, account.pk])
            if isinstance(check, CheckDefinition)
            else ""
        )
        crumbs.append(Crumb(account.name, url))
    if finding is not None:
        label = finding.resource_id
        if len(label) > CRUMB_MAX_CHARS:
            label = "…" + label[-(CRUMB_MAX_CHARS - 1) :]
        crumbs.append(Crumb(label, finding.get_absolute_url(), title=finding.resource_id))

    last = crumbs[-1]
    crumbs[-1] = Crumb(last.label, "", title=last.title)
    return crumbs


# Trend charts, drawn as inline SVG so they need no script.
@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    point: FailingPoint


@dataclass(frozen=True)
class TrendChart:
    """Geometry of a failing-resources trend in an SVG of `width` x `height` user units."""

    width: int
    height: int
    padding: int
    # One polyline per run of scans with a value; a scan without any result of the check breaks it.
    segments: list[str]
    points: list[ChartPoint]
    max_failing: int
    first_at: dt.datetime | None
    last_at: dt.datetime | None

    @property
    def latest(self) -> ChartPoint | None:
        return self.points[-1] if self.points else None

    @property
    def baseline_y(self) -> float:
        return self.height - self.padding

    @property
    def top_y(self) -> float:
        return float(self.padding)

    @property
    def right_x(self) -> float:
        return float(self.width - self.padding)

    # Axis labels sit just above the line they name.
    @property
    def top_label_y(self) -> float:
        return self.top_y - 4

    @property
    def baseline_label_y(self) -> float:
        return self.baseline_y - 4


def trend_chart(points: Sequence[FailingPoint], *, width: int, height: int, padding: int) -> TrendChart:
    """Place each point with a value on a time axis (x) and a failing count axis from 0 (y)."""
    valued = [p for p in points if p.failing is not None]
    max_failing = max((p.failing for p in valued), default=0)
    first_at = points[0].scanned_at if points else None
    last_at = points[-1].scanned_at if points else None
    span = (last_at - first_at).total_seconds() if first_at and last_at else 0.0
    inner_width = width - 2 * padding
    inner_height = height - 2 * padding

    def x_of(point: FailingPoint) -> float:
        if not span:
            return padding + inner_width / 2
        return padding + inner_width * (point.scanned_at - first_at).total_seconds() / span

    def y_of(point: FailingPoint) -> float:
        share = point.failing / max_failing if max_failing else 0.0
        return padding + inner_height * (1.0 - share)

    chart_points: list[ChartPoint] = []
    segments: list[str] = []
    run: list[str] = []
    for point in points:
        if point.failing is None:
            if run:
                segments.append(" ".join(run))
            run = []
            continue
        placed = ChartPoint(x=round(x_of(point), 1), y=round(y_of(point), 1), point=point)
        chart_points.append(placed)
        run.append(f"{placed.x},{placed.y}")
    if run:
        segments.append(" ".join(run))
    return TrendChart(
        width=width,
        height=height,
        padding=padding,
        segments=segments,
        points=chart_points,
        max_failing=max_failing,
        first_at=first_at,
        last_at=last_at,
    )


# Lookups that raise Http404.
def _area_or_404(value: str) -> Area:
    try:
        return Area(value)
    except ValueError:
        raise Http404(f"Area {value!r} not found. Use one of: {', '.join(a.value for a in Area)}.") from None


def _check_or_404(check_id: str) -> CheckDefinition:
    definition = registry().get(check_id)
    if definition is None:
        raise Http404(f"Check {check_id!r} not found in this version. docs/checks.md lists the checks.")
    return definition


def _resources_url(path: str, status: str, page: int = 1) -> str:
    """Return the check-account page URL for a status filter ("" for all) and a page number."""
    params: dict[str, str | int] = {}
    if status:
        params["status"] = status
    if page > 1:
        params["page"] = page
    return f"{path}?{urlencode(params)}" if params else path


def _wants_partial(request: HttpRequest) -> bool:
    """True for an htmx request that swaps part of a page; boosts and history restores get it all."""
    return bool(request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request)


# Pages.
@login_required
@require_GET
@viewer_required
def area_detail(request: HttpRequest, area: str) -> HttpResponse:
    area_choice = _area_or_404(area)
    scans = drilldown_selectors.trend_scans(limit=drilldown_selectors.AREA_TREND_SCANS)
    latest = scans[-1] if scans else None
    score = None
    if latest is not None:
        score = drilldown_selectors.area_score(area=area_choice.value, scan_id=latest.scan_id)
    checks = drilldown_selectors.area_checks(area=area_choice.value, scans=scans)
    context = {
        "area": area_choice,
        "latest_scan": latest,
        "score": score,
        "rows": [
            {"check": check, "chart": trend_chart(check.trend, width=120, height=28, padding=3)}
            for check in checks
        ],
        "trend_scans": len(scans),
        "breadcrumbs": breadcrumbs(area=area_choice),
    }
    return render(request, "posture/area_detail.html", context)


@login_required
@require_GET
@viewer_required
def check_detail(request: HttpRequest, check_id: str) -> HttpResponse:
    definition = _check_or_404(check_id)
    area = Area(definition.area)
    scans = drilldown_selectors.trend_scans(limit=drilldown_selectors.CHECK_TREND_SCANS)
    latest = scans[-1] if scans else None
    in_force = {}
    if latest is not None:
        in_force = drilldown_selectors.scan_thresholds(scan_id=latest.scan_id, check_id=definition.id)
    accounts = drilldown_selectors.check_accounts(check_id=definition.id)
    totals = StatusCounts.sum_of(a.counts for a in accounts)
    failing = []
    if totals.failing:
        failing = drilldown_selectors.check_failing(check_id=definition.id, limit=CHECK_FAILING_SHOWN)
    trend = drilldown_selectors.failing_trends(check_ids=[definition.id], scans=scans)[definition.id]
    findings_query = urlencode({"check": definition.id, "status": Status.FAIL})
    context = {
        "definition": definition,
        "area": area,
        "thresholds": _threshold_rows(definition, in_force),
        "latest_scan": latest,
        "accounts": accounts,
        "accounts_failing": sum(1 for a in accounts if a.counts.failing),
        "totals": totals,
        "chart": trend_chart(trend, width=960, height=180, padding=16),
        "failing": failing,
        "findings_url": f"{reverse('posture:finding-list')}?{findings_query}",
        "breadcrumbs": breadcrumbs(area=area, check=definition),
    }
    return render(request, "posture/check_detail.html", context)


def _threshold_rows(definition: CheckDefinition, in_force: dict) -> list[dict]:
    """Pair each threshold's default with the value the latest scan used (the default when it stored none)."""
    return [
        {
            "threshold": threshold,
            "in_force": in_force.get(threshold.name, threshold.default),
            "differs": threshold.name in in_force and in_force[threshold.name] != threshold.default,
        }
        for threshold in definition.thresholds
    ]


@login_required
@require_GET
@viewer_required
def check_account_detail(request: HttpRequest, check_id: str, account_pk: int) -> HttpResponse:
    definition = _check_or_404(check_id)
    account = get_object_or_404(Account, pk=account_pk)

    status = request.GET.get("status", "")
    status_error = ""
    if status and status not in Status.values:
        status_error = f"The status filter {status!r} was ignored: use one of {', '.join(Status.values)}."
        status = ""

    counts = drilldown_selectors.check_account_counts(check_id=definition.id, account_pk=account.pk)
    findings = drilldown_selectors.check_account_findings(
        check_id=definition.id, account_pk=account.pk, status=status
    )
    paginator = Paginator(findings, RESOURCES_PER_PAGE)
    # The grouped counts already contain the number of rows, so the paginator need not count again.
    paginator.count = counts.of(status) if status else counts.total
    page = paginator.get_page(request.GET.get("page"))
    previous_url = next_url = ""
    if page.has_previous():
        previous_url = _resources_url(request.path, status, page.previous_page_number())
    if page.has_next():
        next_url = _resources_url(request.path, status, page.next_page_number())

    context = {
        "definition": definition,
        "account": account,
        "counts": counts,
        "status": status,
        "status_error": status_error,
        "status_tabs": _status_tabs(request.path, counts),
        "page": page,
        "previous_url": previous_url,
        "next_url": next_url,
        "breadcrumbs": breadcrumbs(area=Area(definition.area), check=definition, account=account),
    }
    if _wants_partial(request):
        return render(request, "posture/check_account_detail.html#account-resources", context)
    return render(request, "posture/check_account_detail.html", context)


def _status_tabs(path: str, counts: StatusCounts) -> list[dict]:
    """Return the status filter links in the order the table lists resources: failing first."""
    tabs = [{"value": "", "label": "All", "count": counts.total, "url": _resources_url(path, "")}]
    for status in (Status.FAIL, Status.UNKNOWN, Status.PASS, Status.NOT_APPLICABLE):
        tabs.append(
            {
                "value": status.value,
                "label": status.label,
                "count": counts.of(status),
                "url": _resources_url(path, status.value),
            }
        )
    return tabs
