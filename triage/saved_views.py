"""Saved views of the findings list: a user's named filters and sort order.

A saved view is personal. Only its owner lists, opens or deletes it, and every role that reads
findings (viewer, analyst, admin) may save views, because a saved view changes nothing on
another user's pages. Another user's view is Http404, and a user without a dashboard role gets
PermissionDenied when saving or deleting.

The query string is stored normalised (`query_clean`), so the findings page finds the saved view
it shows by comparing its own normalised query string (`query_normalize`) with the stored ones.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.http import Http404, QueryDict

from accounts.roles import can_view
from posture.forms import FindingFilterForm
from posture.selectors.findings import DEFAULT_SORT
from triage.models import SavedView

logger = logging.getLogger(__name__)

SAVED_VIEWS_MAX = 50


def _require_viewer(user) -> None:
    if user is None or not can_view(user):
        raise PermissionDenied(
            "Saved views need a dashboard role. Ask an admin to add you to the viewer group."
        )


# The query string.
def query_normalize(query: str) -> str:
    """Return the findings filters of the query string `query`, so that equal filters give equal strings.

    Only the filter form's fields are kept, in the form's field order, with the value the form
    reads: the last one of a repeated field, text without surrounding spaces, and "on" for a
    ticked checkbox. Empty values, the default sort order, the page cursor (`after`, `before`) and
    names the form does not know are left out. The values are not validated here.
    """
    data = QueryDict(query)
    pairs = []
    for name, field in FindingFilterForm.base_fields.items():
        if name not in data:
            continue
        if isinstance(field, forms.BooleanField):
            values = ["on"] if field.widget.value_from_datadict(data, {}, name) else []
        elif isinstance(field, forms.MultipleChoiceField):
            values = data.getlist(name)
        else:
            values = data.getlist(name)[-1:]
        for value in values:
            value = value.strip()
            if value and not (name == "sort" and value == DEFAULT_SORT):
                pairs.append((name, value))
    return urlencode(pairs)


def query_clean(query: str, *, user) -> str:
    """Return `query` normalised, or raise ValidationError naming each filter value the form rejects.

    `user` is the owner of the view, because the form reads some values (the assignee "me")
    relative to the requesting user.
    """
    normalized = query_normalize(query)
    problems = FindingFilterForm(QueryDict(normalized), user=user).invalid_messages()
    if problems:
        raise ValidationError(problems, code="invalid_query")
    return normalized


# Reads.
def saved_view_list(*, user) -> QuerySet[SavedView]:
    """Return the user's saved views, ordered by name, or none for an anonymous user."""
    if user is None or not user.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(owner=user)


def saved_view_get(*, user, pk: int) -> SavedView:
    """Return the user's saved view `pk`, or raise Http404 when the user has no view with that id."""
    try:
        return saved_view_list(user=user).get(pk=pk)
    except (SavedView.DoesNotExist, ValueError, TypeError):
        raise Http404(f"You have no saved view with the id {pk!r}.") from None


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("The view name is missing. Enter a name for the view.", code="name_missing")
    if len(name) > SavedView.NAME_MAX_LENGTH:
        raise ValidationError(
            "The view name %(value)r is %(length)d characters long. Use at most %(max)d characters.",
            code="name_too_long",
            params={"value": name, "length": len(name), "max": SavedView.NAME_MAX_LENGTH},
        )
    return name


def _same_name(*, user, name: str) -> QuerySet[SavedView]:
    # Lower() on both sides, as in the unique constraint, so this check and the database agree on
    # which names are equal (SQLite lowers only ASCII letters, PostgreSQL every letter).
    return SavedView.objects.alias(name_lower=Lower("name")).filter(owner=user, name_lower=Lower(Value(name)))


# Writes.
def saved_view_create(*, user, name: str, query: str, replace: bool = False) -> SavedView:
    """Save the findings filters and sort order of `query` as the user's view `name`.

    Names are unique per user, ignoring case. With `replace`, the view that has the name gets the
    new name and query. Without it, the name is a ValidationError. An invalid filter value, a
    missing or too long name, or a user who already has SAVED_VIEWS_MAX views is a
    ValidationError too, and then nothing is written.
    """
    _require_viewer(user)
    name = _name_clean(name)
    query = query_clean(query, user=user)
    with transaction.atomic():
        # Locking the owner's row serialises the saves of one user, so two saves at once cannot
        # both pass the checks below.
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        existing = _same_name(user=user, name=name).first()
        if existing is not None:
            if not replace:
                raise ValidationError(
                    "You already have a view named “%(value)s”. Tick “Replace a saved view with this name” "
                    "to save these filters under it, or pick another name.",
                    code="duplicate_name",
                    params={"value": existing.name},
                )
            existing.name = name
            existing.query = query
            existing.save(update_fields=["name", "query", "updated_at"])
            logger.info("User %s replaced saved view %s", user.pk, existing.pk)
            return existing
        if SavedView.objects.filter(owner=user).count() >= SAVED_VIEWS_MAX:
            raise ValidationError(
                "You already have %(max)d saved views, the maximum. Delete one to save another.",
                code="too_many_views",
                params={"max": SAVED_VIEWS_MAX},
            )
        view = SavedView.objects.create(owner=user, name=name, query=query)
    logger.info("User %s created saved view %s", user.pk, view.pk)
    return view


def saved_view_delete(*, user, view_id: int) -> SavedView:
    """Delete the user's saved view `view_id` and return it (with its name), or raise Http404."""
    _require_viewer(user)
    view = saved_view_get(user=user, pk=view_id)
    view.delete()
    logger.info("User %s deleted saved view %s", user.pk, view_id)
    return view
