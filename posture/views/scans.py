"""Scans: the list with its start form, starting a scan, and the scan page with its live progress."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.models import Account
from accounts.roles import is_admin
from posture import scores, services
from posture.checks.base import registry
from posture.models import Scan
from posture.selectors import scans as scan_selectors
from posture.views.access import viewer_required

logger = logging.getLogger(__name__)

SCANS_PER_PAGE = 50
# How often a running scan's page refreshes its progress, in seconds.
SCAN_POLL_SECONDS = 2
# UNKNOWN result groups listed per account on the scan page. The findings list shows the rest.
UNKNOWNS_PER_ACCOUNT = 25
TEMPLATE = "posture/scan_detail.html"
PROGRESS_PARTIAL = f"{TEMPLATE}#scan-progress"


@login_required
@require_GET
@viewer_required
def scan_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(scan_selectors.scan_list(), SCANS_PER_PAGE).get_page(request.GET.get("page"))
    can_start = is_admin(request.user)
    context = {
        "page": page,
        "can_start": can_start,
        "start_accounts": list(scan_selectors.scan_start_accounts()) if can_start else [],
    }
    return render(request, "posture/scan_list.html", context)


@login_required
@require_GET
@viewer_required
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = get_object_or_404(scan_selectors.scan_detail_queryset(), pk=pk)
    context = {
        "scan": scan,
        "accounts": scan_selectors.scan_progress(scan=scan, unknowns_per_account=UNKNOWNS_PER_ACCOUNT),
        "checks_total": len(registry()),
        "scores": scores.scan_scores(scan) if scan.state in scan_selectors.SCORED_STATES else None,
        "poll_seconds": SCAN_POLL_SECONDS,
        "unknowns_per_account": UNKNOWNS_PER_ACCOUNT,
    }
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, PROGRESS_PARTIAL, context)
        if scan.is_finished:
            # 286 makes htmx swap this last state in and stop polling.
            response = HttpResponseStopPolling(response.content)
    else:
        response = render(request, TEMPLATE, context)
    # The same URL returns the partial or the page, so caches must key on the htmx header.
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_POST
def scan_start(request: HttpRequest) -> HttpResponse:
    """Start a scan of one account (POST `account`: its 12-digit account id) or of every enabled one.

    Without a broker (the demo) Celery runs the scan inside this request, so the redirect lands on
    a finished scan. With a broker it lands on a queued scan, whose page polls its progress.
    """
    if not is_admin(request.user):
        raise PermissionDenied(
            "Starting a scan needs the admin role. Ask an admin to add you to the admin group."
        )

    account_id = request.POST.get("account", "").strip()
    accounts = None
    if account_id:
        account = Account.objects.filter(account_id=account_id).first()
        if account is None:
            logger.info("Scan not started: no account with account id %r", account_id)
            messages.error(
                request,
                f"No account with account id {account_id!r} is registered, so no scan was started. "
                "Pick an account from the list.",
            )
            return _back(request)
        if not account.enabled:
            logger.info("Scan not started: account %s is disabled", account.account_id)
            messages.error(
                request,
                f"Account {account} is disabled, so no scan was started. Enable it on its page first.",
            )
            return _back(request)
        accounts = [account]

    try:
        scan = services.scan_start(trigger=Scan.Trigger.MANUAL, accounts=accounts, requested_by=request.user)
    except services.NoAccountsToScan as exc:
        logger.info("Scan not started: %s", exc)
        messages.error(request, f"No scan was started: {exc}")
        return _back(request)

    logger.info("Scan %s started by user %s", scan.pk, request.user.pk)
    scope = f"account {accounts[0]}" if accounts else "every enabled account"
    messages.success(request, f"Scan {scan.pk} of {scope} started.")
    return redirect(scan)


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """Redirect to the page the start form was on (POST `next`), or else to the scan list."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("posture:scan-list")
    return HttpResponseRedirect(target)
