"""Drill-down pages: area, then check, then one account's resources under a check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from posture.views.access import viewer_required


# TODO: the area, check and check-account pages are not written yet; they answer 404 until then.
@login_required
@require_GET
@viewer_required
def area_detail(request: HttpRequest, area: str) -> HttpResponse:
    raise Http404("Not written yet.")


@login_required
@require_GET
@viewer_required
def check_detail(request: HttpRequest, check_id: str) -> HttpResponse:
    raise Http404("Not written yet.")


@login_required
@require_GET
@viewer_required
def check_account_detail(request: HttpRequest, check_id: str, account_pk: int) -> HttpResponse:
    raise Http404("Not written yet.")
