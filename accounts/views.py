"""Pages for monitored accounts.

Reading needs a role (viewer, analyst or admin), and adding, editing and verifying need admin. Both
are checked here on every method, so a viewer's POST is rejected before anything is written.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import AccountForm
from accounts.roles import can_view, is_admin


def _require_viewer(request: HttpRequest) -> None:
    if not can_view(request.user):
        raise PermissionDenied("Reading accounts needs the viewer, analyst or admin role.")


def _require_admin(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("Adding, editing and verifying accounts needs the admin role.")


@login_required
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    _require_viewer(request)
    return render(request, "accounts/account_list.html", {"accounts": selectors.account_list()})


@login_required
@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_viewer(request)
    account = selectors.account_get(pk=pk)
    context = {"account": account, "account_scans": selectors.account_scan_list(account=account)}
    return render(request, "accounts/account_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    form = AccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.account_create(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {account}. Verify its role to check that scans can reach it.")
            return redirect(account)
    return render(request, "accounts/account_form.html", {"form": form, "account": None})


@login_required
@require_http_methods(["GET", "POST"])
def account_update(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = selectors.account_get(pk=pk)
    form = AccountForm(request.POST if request.method == "POST" else None, instance=account)
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(account=account, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved {account}.")
            return redirect(account)
    return render(request, "accounts/account_form.html", {"form": form, "account": account})


@login_required
@require_POST
def account_verify(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request)
    account = services.account_verify(account=selectors.account_get(pk=pk))
    # The detail page shows the full verification message, so the flash message only states the outcome.
    if account.verification_ok:
        messages.success(request, f"The role of {account} is verified.")
    else:
        messages.error(request, f"Verification of {account} failed. The reason is shown below.")
    return redirect(account)
