from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import UserFactory, install_fake_checks
from triage import saved_views
from triage.models import SavedView

pytestmark = pytest.mark.django_db

LIST_URL = reverse("posture:finding-list")
CREATE_URL = reverse("posture:saved-view-create")
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def outsider_user():
    """Logged in, but without any dashboard role."""
    return UserFactory(username="outsider")


@pytest.fixture
def users(viewer, analyst, admin_user) -> dict:
    return {"viewer": viewer, "analyst": analyst, "admin": admin_user}


@pytest.fixture
def theirs(analyst) -> SavedView:
    """A view of another user than the viewer."""
    return saved_views.saved_view_create(user=analyst, name="Analyst's queue", query="status=FAIL")


@pytest.fixture
def mine(viewer) -> SavedView:
    return saved_views.saved_view_create(user=viewer, name="High", query="severity=high")


def open_url(view: SavedView) -> str:
    return reverse("posture:saved-view-open", args=[view.pk])


def delete_url(view: SavedView) -> str:
    return reverse("posture:saved-view-delete", args=[view.pk])


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def stored() -> list[tuple[str, str, str]]:
    return list(SavedView.objects.order_by("pk").values_list("owner__username", "name", "query"))


def endpoints(view: SavedView) -> dict[str, tuple[str, str, dict]]:
    """Return the method, URL and valid form data of each saved-view endpoint, by name."""
    return {
        "create": ("post", CREATE_URL, {"name": "New", "query": "severity=low"}),
        "delete": ("post", delete_url(view), {"query": ""}),
        "open": ("get", open_url(view), {}),
    }


# Access and open.
@pytest.mark.parametrize("name", ["create", "delete", "open"])
def test_anonymous_redirected_to_login(client, mine, name):
    method, url, data = endpoints(mine)[name]
    before = stored()
    response = getattr(client, method)(url, data)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert stored() == before


@pytest.mark.parametrize("name", ["create", "delete", "open"])
def test_user_without_role_forbidden(client, mine, outsider_user, name):
    method, url, data = endpoints(mine)[name]
    client.force_login(outsider_user)
    before = stored()
    response = getattr(client, method)(url, data)
    assert response.status_code == 403
    assert stored() == before


@pytest.mark.parametrize(("name", "method"), [("create", "get"), ("delete", "get"), ("open", "post")])
def test_wrong_method_not_allowed(client, mine, viewer, name, method):
    _, url, _ = endpoints(mine)[name]
    client.force_login(viewer)
    assert getattr(client, method)(url).status_code == 405


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_every_role_saves_a_view(client, users, role):
    client.force_login(users[role])
    response = client.post(CREATE_URL, {"name": "Failing", "query": "status=FAIL&after=abc"})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?status=FAIL"
    assert stored() == [(users[role].username, "Failing", "status=FAIL")]
    assert message_texts(response) == ["Saved the view “Failing”."]


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_every_role_opens_own_view(client, users, role):
    view = saved_views.saved_view_create(user=users[role], name="Mine", query="severity=high&sort=account")
    client.force_login(users[role])
    response = client.get(open_url(view))
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?severity=high&sort=account"


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_other_users_view_open_404(client, users, theirs, role):
    client.force_login(users[role])
    assert client.get(open_url(theirs)).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_other_users_view_delete_404(client, users, theirs, role):
    client.force_login(users[role])
    before = stored()
    response = client.post(delete_url(theirs), {"query": ""})
    assert response.status_code == 404
    assert stored() == before


def test_open_view_without_filters(client, viewer):
    view = saved_views.saved_view_create(user=viewer, name="All", query="")
    client.force_login(viewer)
    assert client.get(open_url(view))["Location"] == LIST_URL


def test_unknown_view_404(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("posture:saved-view-open", args=[999_999])).status_code == 404


# Create.
def test_create_bad_input_writes_nothing(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "  ", "query": "status=FAIL"})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?status=FAIL"
    assert stored() == []
    assert message_texts(response) == [
        "The view was not saved. The view name is missing. Enter a name for the view."
    ]


def test_create_invalid_query_names_value(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "Broken", "query": "severity=bogus"})
    assert stored() == []
    assert "'bogus' is not a known severity" in message_texts(response)[0]


def test_create_duplicate_name_asks_to_replace(client, viewer, mine):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "high", "query": "severity=low"})
    assert stored() == [("viewer", "High", "severity=high")]
    assert "You already have a view named “High”." in message_texts(response)[0]


def test_create_replace_ticked(client, viewer, mine):
    client.force_login(viewer)
    client.post(CREATE_URL, {"name": "High", "query": "severity=low", "replace": "1"})
    assert stored() == [("viewer", "High", "severity=low")]


def test_create_too_long_name_rejected(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "x" * 81, "query": ""})
    assert stored() == []
    assert "is 81 characters long" in message_texts(response)[0]


def test_create_error_redirect_keeps_query_safe(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "", "query": "q=a b\r\nSet-Cookie: x"})
    assert response["Location"] == f"{LIST_URL}?q=a+b%0D%0ASet-Cookie%3A+x"


def test_create_htmx_renders_panel(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "Failing", "query": "status=FAIL"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="saved-views"' in html
    assert "Saved the view “Failing”." in html
    assert re.search(r'aria-current="true">Failing</a>', html)
    assert message_texts(response) == []


def test_create_htmx_error_renders_panel(client, viewer):
    client.force_login(viewer)
    response = client.post(CREATE_URL, {"name": "Broken", "query": "status=BROKEN"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="message message--error"' in html
    assert "&#x27;BROKEN&#x27; is not a known status" in html
    assert stored() == []


# Delete.
def test_delete_own_view(client, viewer, mine):
    client.force_login(viewer)
    response = client.post(delete_url(mine), {"query": "region=us-east-1"})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?region=us-east-1"
    assert stored() == []
    assert message_texts(response) == ["Deleted the saved view “High”."]


def test_delete_htmx_renders_panel(client, viewer, mine):
    client.force_login(viewer)
    response = client.post(delete_url(mine), {"query": ""}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Deleted the saved view “High”." in html
    assert "No saved views yet." in html
    assert stored() == []


# The panel on the findings page.
def test_findings_page_lists_only_own_views(client, viewer, mine, theirs):
    client.force_login(viewer)
    html = client.get(LIST_URL).content.decode()
    assert f'href="{open_url(mine)}"' in html
    assert f'href="{open_url(theirs)}"' not in html
    assert "Analyst&#x27;s queue" not in html


def test_findings_page_marks_current_view(client, viewer, mine):
    saved_views.saved_view_create(user=viewer, name="Low", query="severity=low")
    client.force_login(viewer)
    html = client.get(LIST_URL, {"severity": "high", "q": "", "after": "x"}).content.decode()
    current = re.findall(r'href="([^"]+)" aria-current="true"', html)
    assert current == [open_url(mine)]


def test_findings_page_marks_no_view_for_other_filters(client, viewer, mine):
    client.force_login(viewer)
    html = client.get(LIST_URL, {"severity": "low"}).content.decode()
    assert 'aria-current="true"' not in html


def test_findings_page_form_carries_filters(client, viewer):
    client.force_login(viewer)
    html = client.get(LIST_URL, {"severity": "high", "sort": "account"}).content.decode()
    assert '<input type="hidden" name="query" value="severity=high&amp;sort=account">' in html


def test_findings_table_htmx_renders_panel(client, viewer, mine):
    client.force_login(viewer)
    html = client.get(LIST_URL, {"severity": "high"}, headers=HTMX).content.decode()
    assert 'id="saved-views"' in html
    assert re.search(r'aria-current="true">High</a>', html)


def test_findings_page_shows_limit_note(client, viewer):
    SavedView.objects.bulk_create(
        SavedView(owner=viewer, name=f"view {n}") for n in range(saved_views.SAVED_VIEWS_MAX)
    )
    client.force_login(viewer)
    html = client.get(LIST_URL).content.decode()
    assert "You have 50 saved views, the maximum." in html
