"""The changes page: new, reopened and resolved findings between any two finished scans."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from posture.checks.base import Severity
from posture.forms import ScanChangesForm
from posture.models import Scan
from posture.selectors import changes as change_selectors
from posture.views.access import viewer_required

TEMPLATE = "posture/scan_changes.html"
# The part of the page that the selects redraw: the form, its messages and the results.
RESULTS_PARTIAL = f"{TEMPLATE}#changes-results"


@dataclass
class ScanPair:
    """The scans to compare after defaults and checks, with the messages the page shows about them."""

    from_scan: Scan | None = None
    to_scan: Scan | None = None
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        return self.from_scan is not None and self.to_scan is not None and not self.errors


def scan_pair(from_scan: Scan | None, to_scan: Scan | None) -> ScanPair:
    """Fill in the default scans, swap a pair given newest first, and reject a scan paired with itself.

    A missing `to` becomes the latest finished scan, and a missing `from` the finished scan just
    before `to`.
    """
    pair = ScanPair(from_scan=from_scan, to_scan=to_scan)
    if pair.to_scan is None:
        pair.to_scan = change_selectors.scan_latest_finished()
    if pair.to_scan is None:
        return pair
    if pair.from_scan is None:
        pair.from_scan = change_selectors.scan_previous_finished(scan=pair.to_scan)
        if pair.from_scan is None:
            pair.notices.append(
                f"Scan {pair.to_scan.pk} is the first finished scan, so no earlier scan can be "
                "compared with it. Pick a later scan as the end of the range."
            )
            return pair
    if pair.from_scan.pk == pair.to_scan.pk:
        pair.errors.append(
            f"Scan {pair.to_scan.pk} is both the start and the end of the range. Pick two different scans."
        )
    elif change_selectors.scan_is_after(pair.from_scan, pair.to_scan):
        pair.from_scan, pair.to_scan = pair.to_scan, pair.from_scan
        pair.notices.append(
            f"Scan {pair.to_scan.pk} is newer than scan {pair.from_scan.pk}, so the two were swapped: "
            f"the changes are shown from scan {pair.from_scan.pk} to scan {pair.to_scan.pk}."
        )
    return pair


@login_required
@require_GET
@viewer_required
def scan_changes(request: HttpRequest) -> HttpResponse:
    form = ScanChangesForm(request.GET)
    pair = scan_pair(*form.scans())
    filters = form.query()
    changes = None
    if pair.comparable:
        changes = change_selectors.scan_changes(
            from_scan=pair.from_scan,
            to_scan=pair.to_scan,
            limit=change_selectors.ROWS_PER_KIND,
            **form.filters(),
        )
    latest = change_selectors.scan_latest_finished() if changes is not None else None
    context = {
        "form": form,
        "pair": pair,
        "ignored": form.ignored_messages(),
        "scan_options": change_selectors.scan_options(
            include=tuple(scan for scan in (pair.from_scan, pair.to_scan) if scan is not None)
        ),
        "changes": changes,
        "severities": list(Severity),
        # The findings list shows current statuses, which are the statuses at `to` only when it
        # is the latest finished scan.
        "to_is_latest": latest is not None and latest.pk == pair.to_scan.pk,
        "findings_query": f"&{urlencode(filters)}" if filters else "",
    }

    # A history restore requests the whole page, because htmx had no copy of it to put back.
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, RESULTS_PARTIAL, context)
        # Push the scans actually shown, so the address names them after a default or a swap.
        if pair.from_scan is not None and pair.to_scan is not None:
            response = push_url(response, canonical_url(pair, filters))
    else:
        context["has_finished_scans"] = pair.to_scan is not None
        response = render(request, TEMPLATE, context)
    # The same URL returns the partial or the page, so caches must key on the htmx header.
    patch_vary_headers(response, ("HX-Request",))
    return response


def canonical_url(pair: ScanPair, filters: dict[str, str]) -> str:
    """Return the page's URL naming both scans of `pair` and the valid filters."""
    query = {"from": pair.from_scan.pk, "to": pair.to_scan.pk, **filters}
    return f"{reverse('posture:scan-changes')}?{urlencode(query)}"
