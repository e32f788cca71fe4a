"""Saved views of the findings list: save the current filters under a name, open one, delete one.

Every role that reads findings may keep saved views, and each user sees only their own: another
user's view is 404. A POST carries `query`, the query string of the list shown, and redirects to
the findings list with a Django message. An HTMX POST renders the saved-views panel again with
its message instead, because the list around the panel stays as it is.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.messages.utils import get_level_tags
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from posture.views.access import viewer_required
from triage import saved_views
from triage.templatetags.saved_views import saved_views_context

logger = logging.getLogger(__name__)


def _finding_list_url(query: str) -> str:
    # Parsed and encoded again, so whatever a form posts ends up as a plain query string.
    query = QueryDict(query).urlencode()
    url = reverse("posture:finding-list")
    return f"{url}?{query}" if query else url


def _respond(
    request: HttpRequest, *, shown_query: str, redirect_query: str, level: int, text: str
) -> HttpResponse:
    """Render the saved-views panel for HTMX, else add a message and redirect to the findings list.

    `shown_query` is the query string of the list on the page, and `redirect_query` the one that
    the list opens with after a full-page POST.
    """
    if request.htmx:
        message = {"level": get_level_tags()[level], "text": text}
        context = saved_views_context(user=request.user, filter_query=shown_query, message=message)
        return render(request, "posture/saved_views.html", context)
    messages.add_message(request, level, text)
    return redirect(_finding_list_url(redirect_query))


@login_required
@require_POST
@viewer_required
def saved_view_create(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        view = saved_views.saved_view_create(
            user=request.user,
            name=request.POST.get("name", ""),
            query=query,
            replace=bool(request.POST.get("replace")),
        )
    except ValidationError as exc:
        logger.info("User %s: saving a view rejected: %s", request.user.pk, exc.messages)
        text = "The view was not saved. " + " ".join(exc.messages)
        return _respond(request, shown_query=query, redirect_query=query, level=messages.ERROR, text=text)
    text = f"Saved the view “{view.name}”."
    return _respond(request, shown_query=query, redirect_query=view.query, level=messages.SUCCESS, text=text)


@login_required
@require_POST
@viewer_required
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    query = request.POST.get("query", "")
    view = saved_views.saved_view_delete(user=request.user, view_id=pk)
    text = f"Deleted the saved view “{view.name}”."
    return _respond(request, shown_query=query, redirect_query=query, level=messages.SUCCESS, text=text)


@login_required
@require_GET
@viewer_required
def saved_view_open(request: HttpRequest, pk: int) -> HttpResponse:
    view = saved_views.saved_view_get(user=request.user, pk=pk)
    return redirect(_finding_list_url(view.query))
