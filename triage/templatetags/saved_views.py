"""The saved-views panel of the findings page, as an inclusion tag.

`{% saved_views request filter_query %}` renders templates/posture/saved_views.html with the
user's views, so the findings view itself needs no code for them. The saved-view endpoints
render the same template with `saved_views_context` after an HTMX save or delete.
"""

from __future__ import annotations

from django import template
from django.http import HttpRequest

from triage.models import SavedView
from triage.saved_views import SAVED_VIEWS_MAX, query_normalize, saved_view_list

register = template.Library()


def saved_views_context(*, user, filter_query: str, message: dict[str, str] | None = None) -> dict:
    """Return the context of posture/saved_views.html.

    `filter_query` is the query string of the findings list shown, without the page cursor. The
    saved view with the same normalised query is marked as the current one. `message` is an
    optional {"level": "success" or "error", "text": ...} shown inside the panel.
    """
    views = list(saved_view_list(user=user))
    shown_query = query_normalize(filter_query)
    return {
        "views": views,
        "current_view": next((view for view in views if view.query == shown_query), None),
        "filter_query": filter_query,
        "name_max_length": SavedView.NAME_MAX_LENGTH,
        "at_max": len(views) >= SAVED_VIEWS_MAX,
        "views_max": SAVED_VIEWS_MAX,
        "message": message,
    }


@register.inclusion_tag("posture/saved_views.html")
def saved_views(request: HttpRequest, filter_query: str) -> dict:
    return saved_views_context(user=request.user, filter_query=filter_query)
