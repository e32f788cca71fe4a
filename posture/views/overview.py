"""The overview page: scores, their trend, the latest scan's changes, remediation and the account ranking."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from posture import charts
from posture.checks.base import SEVERITY_WEIGHTS, Area, registry
from posture.scores import COMPLETE_COVERAGE
from posture.scoring import area_weights
from posture.selectors import overview as overview_selectors
from posture.selectors import remediation as remediation_selectors
from posture.selectors.overview import AccountOption
from posture.views.access import viewer_required
from triage import selectors as triage_selectors
from triage.models import FindingException

ACCOUNTS_PER_PAGE = 50
TEMPLATE = "posture/overview.html"
# The part of the page that the filter redraws: score cards, chart, changes, remediation and ranking.
RESULTS_PARTIAL = f"{TEMPLATE}#overview-results"


class OverviewFilterForm(forms.Form):
    """The overview's filter, read from the query string so a filtered overview has a URL."""

    account = forms.ChoiceField(required=False)
    environment = forms.ChoiceField(required=False)

    def __init__(self, data, *, options: list[AccountOption]) -> None:
        super().__init__(data)
        self.fields["account"].choices = [
            ("", "All accounts"),
            *((option.account_id, f"{option.name} ({option.account_id})") for option in options),
        ]
        self.fields["environment"].choices = [
            ("", "All environments"),
            *((label, label) for label in overview_selectors.environments(options)),
        ]

    def values(self) -> tuple[str, str]:
        """Return the valid (12-digit account id, environment label), "" for a filter not set.

        An invalid value counts as not set and its error shows in the form, so one bad value in a
        shared URL still opens the overview.
        """
        self.is_valid()
        return self.cleaned_data.get("account", ""), self.cleaned_data.get("environment", "")


@login_required
@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    options = overview_selectors.account_options()
    form = OverviewFilterForm(request.GET, options=options)
    account_id, environment = form.values()
    accounts = overview_selectors.accounts_in_scope(options, account_id=account_id, environment=environment)
    context = {
        "form": form,
        "filtered": accounts is not None,
        "scope_label": _scope_label(options, account_id=account_id, environment=environment),
        "complete_coverage": COMPLETE_COVERAGE,
        **_results_context(request, accounts=accounts, account_id=account_id, environment=environment),
    }

    # A history restore requests the whole page, because htmx had no copy of it to put back.
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, RESULTS_PARTIAL, context)
    else:
        context.update(
            {
                "has_accounts": bool(options),
                "scan_in_progress": overview_selectors.scan_in_progress(),
                "notes": overview_selectors.scan_notes(),
                "severity_weights": [
                    (severity.label, weight) for severity, weight in SEVERITY_WEIGHTS.items()
                ],
                "area_weights": [
                    (Area(area).label, weight) for area, weight in area_weights(registry()).items()
                ],
            }
        )
        response = render(request, TEMPLATE, context)
    # The same URL returns the partial or the page, so caches must key on the htmx header.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _scope_label(options: list[AccountOption], *, account_id: str, environment: str) -> str:
    """Name the accounts the scores are for, as the headline sentence reads them."""
    if account_id:
        option = next(option for option in options if option.account_id == account_id)
        label = f"account {option.name} ({option.account_id})"
        return f"{label} in environment {environment}" if environment else label
    if environment:
        count = sum(1 for option in options if option.environment == environment)
        return f"the {count} account{'s' if count != 1 else ''} in environment {environment}"
    return "all accounts"


def _results_context(
    request: HttpRequest, *, accounts: list[int] | None, account_id: str, environment: str
) -> dict[str, Any]:
    """Read what the filter redraws, for the accounts in scope (None for every account)."""
    trend = overview_selectors.score_trend(accounts=accounts)
    if not trend:
        return {}

    latest = trend[-1]
    cards = overview_selectors.score_cards(trend)
    # One query for every account of the scan, paginated here: a row per account is small, and the
    # worst account is known whatever the page.
    ranking = overview_selectors.account_rank_rows(
        overview_selectors.account_ranking(scan_id=latest.scan_id, accounts=accounts)
    )
    ranking_page = Paginator(ranking, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    histories = overview_selectors.account_histories(
        account_pks=[row.account_pk for row in ranking_page.object_list], trend=trend
    )
    remediation = remediation_selectors.remediation_summary(accounts=accounts)
    in_force = triage_selectors.exceptions_in_force(accounts=accounts)
    findings_filter = {
        key: value for key, value in (("account", account_id), ("environment", environment)) if value
    }
    return {
        "latest": latest,
        "cards": cards,
        "overall": cards[0],
        "worst_area": overview_selectors.worst_area_card(cards),
        # Worst first, so the first scored row is the worst account.
        "worst_account": next((row for row in ranking if row.score is not None), None),
        "figure": charts.score_trend_figure(trend),
        "events": overview_selectors.scan_events(scan_id=latest.scan_id, accounts=accounts),
        "remediation": remediation,
        "exceptions_in_force": in_force,
        "accepted_failing": sum(
            item.failing for item in in_force if item.kind == FindingException.Kind.RISK_ACCEPTED
        ),
        "false_positive_failing": sum(
            item.failing for item in in_force if item.kind == FindingException.Kind.FALSE_POSITIVE
        ),
        "remediation_tables": [
            ("Severity", "severity", remediation.by_severity),
            ("Area", "area", remediation.by_area),
        ],
        "age_buckets": remediation_selectors.age_bucket_labels(),
        "findings_filter": f"&{urlencode(findings_filter)}" if findings_filter else "",
        "areas": list(Area),
        "ranking_page": ranking_page,
        "ranking_rows": [
            (row, charts.sparkline(histories[row.account_pk])) for row in ranking_page.object_list
        ],
        "sparkline_scans": min(len(trend), overview_selectors.SPARKLINE_SCANS),
    }
