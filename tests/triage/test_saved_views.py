from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.test import Client
from django.urls import reverse

from accounts.roles import VIEWER
from tests.factories import AccountFactory, UserFactory
from triage import saved_views
from triage.models import SavedView

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fake_checks(fake_checks):
    return fake_checks


@pytest.fixture
def viewer2(db):
    return UserFactory(username="viewer2", roles=[VIEWER])


def stored(user) -> list[tuple[str, str]]:
    return list(SavedView.objects.filter(owner=user).values_list("name", "query"))


def create(user, name: str = "Failing", query: str = "status=FAIL", **kwargs) -> SavedView:
    return saved_views.saved_view_create(user=user, name=name, query=query, **kwargs)


# The query string.
def test_normalize_drops_empty_values_and_cursor():
    query = "q=&severity=high&after=abc&before=def&region="
    assert saved_views.query_normalize(query) == "severity=high"


def test_normalize_drops_unknown_names():
    assert saved_views.query_normalize("severity=high&utm_source=mail") == "severity=high"


def test_normalize_uses_form_field_order():
    assert (
        saved_views.query_normalize("status=FAIL&q=vol&area=monitoring")
        == "q=vol&area=monitoring&status=FAIL"
    )


def test_normalize_keeps_last_of_repeated_value():
    assert saved_views.query_normalize("severity=low&severity=high") == "severity=high"


def test_normalize_strips_text():
    assert saved_views.query_normalize("q=+vol-1+") == "q=vol-1"


def test_normalize_drops_default_sort():
    assert saved_views.query_normalize("sort=-status&severity=high") == "severity=high"


def test_normalize_keeps_other_sort():
    assert saved_views.query_normalize("sort=severity") == "sort=severity"


def test_normalize_ticked_checkbox_is_on():
    assert saved_views.query_normalize("include_gone=1") == "include_gone=on"


def test_normalize_unticked_checkbox_dropped():
    assert saved_views.query_normalize("include_gone=false") == ""


def test_clean_rejects_unknown_severity(viewer):
    with pytest.raises(ValidationError) as caught:
        saved_views.query_clean("severity=bogus", user=viewer)
    assert caught.value.messages == [
        "The severity filter is invalid: 'bogus' is not a known severity. Pick one from the list."
    ]


def test_clean_rejects_unknown_account(viewer):
    with pytest.raises(ValidationError) as caught:
        saved_views.query_clean("account=999999999999", user=viewer)
    assert "'999999999999'" in caught.value.messages[0]


def test_clean_rejects_reversed_date_range(viewer):
    with pytest.raises(ValidationError) as caught:
        saved_views.query_clean("first_seen_from=2025-02-01&first_seen_to=2025-01-01", user=viewer)
    assert "2025-02-01 is after 2025-01-01" in caught.value.messages[0]


def test_clean_accepts_known_account(viewer):
    AccountFactory(account_id="123456789012")
    assert saved_views.query_clean("account=123456789012&after=x", user=viewer) == "account=123456789012"


# Create.
def test_create_stores_normalized_query(viewer):
    view = create(viewer, name="High", query="severity=high&q=&after=abc")
    assert stored(viewer) == [("High", "severity=high")]
    assert view.owner == viewer


def test_create_strips_name(viewer):
    create(viewer, name="  High findings  ")
    assert stored(viewer)[0][0] == "High findings"


def test_create_without_filters(viewer):
    create(viewer, name="Everything", query="")
    assert stored(viewer) == [("Everything", "")]


def test_create_name_of_max_length(viewer):
    create(viewer, name="x" * SavedView.NAME_MAX_LENGTH)
    assert SavedView.objects.get().name == "x" * 80


@pytest.mark.parametrize("name", ["", "   "])
def test_create_empty_name_rejected(viewer, name):
    with pytest.raises(ValidationError) as caught:
        create(viewer, name=name)
    assert caught.value.code == "name_missing"
    assert stored(viewer) == []


def test_create_too_long_name_rejected(viewer):
    with pytest.raises(ValidationError) as caught:
        create(viewer, name="x" * 81)
    assert "is 81 characters long. Use at most 80 characters." in caught.value.messages[0]
    assert stored(viewer) == []


def test_create_invalid_query_rejected(viewer):
    with pytest.raises(ValidationError) as caught:
        create(viewer, query="status=BROKEN")
    assert "'BROKEN' is not a known status" in caught.value.messages[0]
    assert stored(viewer) == []


def test_create_duplicate_name_rejected(viewer):
    create(viewer, name="Failing", query="status=FAIL")
    with pytest.raises(ValidationError) as caught:
        create(viewer, name="failing", query="severity=high")
    assert caught.value.code == "duplicate_name"
    assert "You already have a view named “Failing”." in caught.value.messages[0]
    assert stored(viewer) == [("Failing", "status=FAIL")]


def test_create_replace_updates_existing(viewer):
    first = create(viewer, name="Failing", query="status=FAIL")
    second = create(viewer, name="FAILING", query="severity=high", replace=True)
    assert second.pk == first.pk
    assert stored(viewer) == [("FAILING", "severity=high")]


def test_create_replace_without_match_creates(viewer):
    create(viewer, name="Failing", replace=True)
    assert stored(viewer) == [("Failing", "status=FAIL")]


def test_create_same_name_for_other_user(viewer, viewer2):
    create(viewer, name="Failing")
    create(viewer2, name="Failing")
    assert SavedView.objects.filter(name="Failing").count() == 2


def test_create_limit_rejected(viewer):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer, name=f"view {n}") for n in range(saved_views.SAVED_VIEWS_MAX)
    )
    with pytest.raises(ValidationError) as caught:
        create(viewer, name="One more")
    assert caught.value.code == "too_many_views"
    assert "50 saved views, the maximum" in caught.value.messages[0]
    assert SavedView.objects.filter(owner=viewer).count() == 50


def test_create_replace_allowed_at_limit(viewer):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer, name=f"view {n}") for n in range(saved_views.SAVED_VIEWS_MAX)
    )
    create(viewer, name="View 7", query="severity=low", replace=True)
    assert SavedView.objects.get(owner=viewer, name="View 7").query == "severity=low"


def test_create_other_users_views_not_counted(viewer, viewer2):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer2, name=f"view {n}") for n in range(saved_views.SAVED_VIEWS_MAX)
    )
    create(viewer, name="Mine")
    assert stored(viewer) == [("Mine", "status=FAIL")]


def test_create_without_role_forbidden(outsider):
    with pytest.raises(PermissionDenied):
        create(outsider)
    assert stored(outsider) == []


def test_database_rejects_duplicate_name(viewer):
    SavedView.objects.create(owner=viewer, name="Failing")
    with pytest.raises(IntegrityError), transaction.atomic():
        SavedView.objects.create(owner=viewer, name="FAILING")


# Reads and delete.
def test_list_only_own_views_by_name(viewer, viewer2):
    create(viewer, name="beta")
    create(viewer, name="Alpha")
    create(viewer2, name="Aardvark")
    names = [view.name for view in saved_views.saved_view_list(user=viewer)]
    assert names == ["Alpha", "beta"]


def test_get_other_users_view_404(viewer, viewer2):
    view = create(viewer2)
    with pytest.raises(Http404):
        saved_views.saved_view_get(user=viewer, pk=view.pk)


def test_delete_own_view(viewer):
    view = create(viewer)
    deleted = saved_views.saved_view_delete(user=viewer, view_id=view.pk)
    assert deleted.name == "Failing"
    assert stored(viewer) == []


def test_delete_other_users_view_404(viewer, viewer2):
    view = create(viewer2)
    with pytest.raises(Http404):
        saved_views.saved_view_delete(user=viewer, view_id=view.pk)
    assert stored(viewer2) == [("Failing", "status=FAIL")]


def test_views_deleted_with_owner(viewer):
    create(viewer)
    viewer.delete()
    assert SavedView.objects.count() == 0


# Admin.
def test_admin_lists_views_read_only(viewer):
    create(viewer)
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    listing = client.get(reverse("admin:triage_savedview_changelist"))
    adding = client.get(reverse("admin:triage_savedview_add"))
    assert listing.status_code == 200
    assert "Failing" in listing.content.decode()
    assert adding.status_code == 403
