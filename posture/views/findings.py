"""Findings: the filterable list and the finding page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import can_triage
from posture import exports
from posture.checks.base import Area, CheckDefinition, registry
from posture.forms import BulkTriageForm, FindingFilterForm
from posture.keyset import InvalidCursor
from posture.models import Finding
from posture.selectors import findings as finding_selectors
from posture.views.access import viewer_required
from posture.views.drilldown import breadcrumbs
from posture.views.triage import triage_context

FINDINGS_PER_PAGE = 50
# Counting stops after this many matches, so every page reads a bounded number of rows to count.
MATCH_COUNT_CAP = 10_000


@login_required
@require_GET
@viewer_required
def finding_list(request: HttpRequest) -> HttpResponse:
    context = finding_table_context(request, query=request.GET)
    # A history restore request (back button with nothing cached) replaces the whole body.
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "posture/finding_list.html#finding-table", context)
    return render(request, "posture/finding_list.html", context)


def finding_table_context(request: HttpRequest, *, query: QueryDict) -> dict:
    """Return what the findings table needs to show the findings that `query` filters and sorts.

    `query` is the list's query string: request.GET for the page itself, or the filters that a bulk
    action posted, when its response shows the table again.
    """
    form = FindingFilterForm(query, user=request.user)
    findings = finding_selectors.finding_list(**form.filters())
    sort = form.sort_order()
    notices = form.ignored_messages()
    try:
        page = finding_selectors.finding_page(
            findings,
            sort=sort,
            size=FINDINGS_PER_PAGE,
            after=query.get("after", ""),
            before=query.get("before", ""),
        )
    except InvalidCursor as exc:
        notices.append(str(exc))
        page = finding_selectors.finding_page(findings, sort=sort, size=FINDINGS_PER_PAGE)
    may_triage = can_triage(request.user)
    return {
        "form": form,
        "query": query,
        "page": page,
        "sort": sort,
        "sort_is_default": sort == finding_selectors.DEFAULT_SORT,
        "sort_headers": _sort_headers(sort),
        "matching": finding_selectors.finding_count(findings, cap=MATCH_COUNT_CAP),
        "notices": notices,
        "filter_query": _filter_query(query),
        "check_titles": {check_id: d.title for check_id, d in registry().items()},
        "may_triage": may_triage,
        "bulk_form": BulkTriageForm(user=request.user, assignees=form.assignees) if may_triage else None,
    }


def _sort_headers(sort: str) -> dict[str, dict[str, str]]:
    """Return per sortable column its label, its aria-sort state and the sort its header link applies.

    The link of the current column reverses its direction. Any other column starts in its own
    first direction, which is worst or newest first for status, severity and dates.
    """
    current, descending = sort.removeprefix("-"), sort.startswith("-")
    headers = {}
    for name, column in finding_selectors.FINDING_SORTS.items():
        if name == current:
            state = "descending" if descending else "ascending"
            link_descending = not descending
        else:
            state = "none"
            link_descending = column.descending_first
        headers[name] = {
            "label": column.label,
            "state": state,
            "sort": f"-{name}" if link_descending else name,
        }
    return headers


def _filter_query(query: QueryDict) -> str:
    """Return the query string of the filters and sort, without the page cursor."""
    query = query.copy()
    query.pop("after", None)
    query.pop("before", None)
    return query.urlencode()


@login_required
@require_GET
@viewer_required
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(
        finding_selectors.finding_detail_queryset().select_related("assignee", "exception"), pk=pk
    )
    # A check renamed or removed since the finding was stored has no definition any more.
    definition = registry().get(finding.check_id)
    context = {
        "finding": finding,
        "definition": definition,
        "thresholds": _thresholds_used(finding, definition),
        **triage_context(request, finding),
        "breadcrumbs": breadcrumbs(
            area=Area(finding.area),
            check=definition or finding.check_id,
            account=finding.account,
            finding=finding,
        ),
    }
    return render(request, "posture/finding_detail.html", context)


def _threshold_text(value) -> str:
    """Return a threshold value as people write it: yes/no, and lists without Python's brackets."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def _thresholds_used(finding: Finding, definition: CheckDefinition | None) -> list[dict]:
    """Return the thresholds stored with the finding, with unit and description when the check has them."""
    known = {t.name: t for t in definition.thresholds} if definition else {}
    rows = []
    for name, value in sorted(finding.thresholds.items()):
        threshold = known.get(name)
        unit = threshold.unit if threshold else ""
        rows.append(
            {
                "name": name,
                "value": _threshold_text(value),
                # A unit after "yes" or "no" only repeats the type, so booleans get none.
                "unit": "" if isinstance(value, bool) else unit,
                "description": threshold.description if threshold else "",
            }
        )
    return rows


@login_required
@require_GET
@viewer_required
def finding_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    return _finding_export(request, extension="csv", content_type="text/csv; charset=utf-8")


@login_required
@require_GET
@viewer_required
def finding_export_json(request: HttpRequest) -> StreamingHttpResponse:
    return _finding_export(request, extension="json", content_type="application/json")


def _finding_export(request: HttpRequest, *, extension: str, content_type: str) -> StreamingHttpResponse:
    """Stream every finding that the list shows for the same query string, in the same order.

    The filters and sort are read as the list reads them (an invalid filter is ignored there and
    here alike), and the page cursor is ignored because the export contains every page.
    """
    form = FindingFilterForm(request.GET, user=request.user)
    findings = finding_selectors.finding_list(**form.filters())
    rows = finding_selectors.finding_export_rows(findings, sort=form.sort_order())
    records = exports.finding_records(
        rows,
        check_titles={check_id: d.title for check_id, d in registry().items()},
        finding_url=exports.finding_url_maker(request),
    )
    chunks = exports.csv_chunks(records) if extension == "csv" else exports.json_chunks(records)
    response = StreamingHttpResponse(chunks, content_type=content_type)
    filename = exports.export_filename(extension, now=timezone.now())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
