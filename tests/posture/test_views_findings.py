from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from posture.checks.base import Area, Severity, Status
from posture.exports import COLUMNS
from posture.keyset import Cursor
from posture.models import Finding
from posture.selectors.findings import SORT_CHOICES
from posture.views import findings as finding_views
from tests.factories import AccountFactory, FindingFactory, UserFactory, install_fake_checks
from triage import services as triage_services

pytestmark = pytest.mark.django_db

LIST_URL = reverse("posture:finding-list")
CSV_URL = reverse("posture:finding-export-csv")
JSON_URL = reverse("posture:finding-export-json")
HTMX = {"HX-Request": "true"}
# Session, user, role check, triage role check, admin check of the layout, environments, assignable
# users, accounts, saved views, rows and count make 11 queries, and an account filter adds its lookup.
# A query per row would exceed this by far.
MAX_PAGE_QUERIES = 12


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


def at(day: int) -> dt.datetime:
    return dt.datetime(2025, 1, day, 12, tzinfo=dt.UTC)


@pytest.fixture
def spread() -> list[Finding]:
    """Twelve findings across two accounts with ties in status, severity and dates."""
    production = AccountFactory(name="prod", account_id="111111111111", environment="production")
    staging = AccountFactory(name="stage", account_id="222222222222", environment="staging")
    analyst = UserFactory(username="analyst", roles=["analyst"])
    triage_states = ["open", "acknowledged", "in_progress", "resolved", "risk_accepted"]
    findings = []
    for n in range(12):
        findings.append(
            FindingFactory(
                account=production if n % 2 else staging,
                status=[Status.FAIL, Status.PASS, Status.UNKNOWN][n % 3],
                severity=[Severity.CRITICAL, Severity.LOW, Severity.HIGH, Severity.MEDIUM][n % 4],
                check_id=["fake_access_ports", "fake_monitoring_trail", "fake_inactive_keys"][n % 3],
                area=[Area.ACCESS, Area.MONITORING, Area.INACTIVE][n % 3],
                region=["us-east-1", "eu-west-1"][n % 2],
                resource_id=f"arn:aws:ec2:us-east-1:111111111111:volume/vol-{n % 5:04d}",
                first_seen_at=at(1 + n % 4),
                last_seen_at=at(10 + n % 3),
                triage_state=triage_states[n % 5],
                assignee=analyst if n % 4 == 0 else None,
            )
        )
    return findings


def row_ids(response) -> list[int]:
    """Return the ids of the findings in the table, in order, from each row's link to its finding."""
    return [int(pk) for pk in re.findall(rf'<a href="{LIST_URL}(\d+)/">', response.content.decode())]


def nav_current(response) -> list[str]:
    """Return the text of the main navigation's links marked as the current page."""
    nav = re.search(r'<nav class="nav".*?</nav>', response.content.decode(), re.S).group(0)
    return re.findall(r'<a [^>]*aria-current="page"[^>]*>([^<]+)</a>', nav)


def link(response, rel: str) -> str | None:
    """Return the href of the link with rel="next" or rel="prev", unescaped, or None."""
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', response.content.decode())
    return unescape(match.group(1)) if match else None


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(finding_views, "FINDINGS_PER_PAGE", 5)


def walk(client, params: dict) -> list[list[int]]:
    pages = []
    response = client.get(LIST_URL, params)
    pages.append(row_ids(response))
    while href := link(response, "next"):
        response = client.get(LIST_URL + href)
        pages.append(row_ids(response))
    return pages


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


def export_csv(client, params: dict | None = None) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(streamed(client.get(CSV_URL, params or {})))))


def export_json(client, params: dict | None = None) -> list[dict]:
    return json.loads(streamed(client.get(JSON_URL, params or {})))


def finding_id_of(url: str) -> int:
    return int(urlsplit(url).path.rstrip("/").rsplit("/", 1)[1])


# Access.
@pytest.mark.parametrize("url", [LIST_URL, CSV_URL, JSON_URL])
def test_anonymous_redirected_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", [LIST_URL, CSV_URL, JSON_URL])
def test_user_without_role_forbidden(client, url):
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [LIST_URL, CSV_URL, JSON_URL])
@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_each_role_allowed(client, url, role):
    FindingFactory()
    client.force_login(UserFactory(roles=[role]))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", [LIST_URL, CSV_URL, JSON_URL])
def test_superuser_allowed(client, url):
    client.force_login(UserFactory(is_superuser=True))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", [LIST_URL, CSV_URL, JSON_URL])
def test_post_rejected(client, viewer, url):
    assert client.post(url).status_code == 405


# Filters.
def test_filters_from_query_string(client, viewer):
    matching = FindingFactory(check_id="fake_access_ports", area=Area.ACCESS)
    other = FindingFactory(check_id="fake_monitoring_trail", area=Area.MONITORING)
    response = client.get(LIST_URL, {"area": Area.ACCESS})
    assert row_ids(response) == [matching.pk]
    assert other.get_absolute_url() not in response.content.decode()


def test_filter_account_by_account_id(client, viewer):
    matching = FindingFactory()
    FindingFactory()
    assert row_ids(client.get(LIST_URL, {"account": matching.account.account_id})) == [matching.pk]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"environment": "production"}, lambda f: f.account.environment == "production"),
        ({"area": Area.MONITORING}, lambda f: f.area == Area.MONITORING),
        ({"check": "fake_inactive_keys"}, lambda f: f.check_id == "fake_inactive_keys"),
        ({"severity": Severity.CRITICAL}, lambda f: f.severity == Severity.CRITICAL),
        ({"status": Status.UNKNOWN}, lambda f: f.status == Status.UNKNOWN),
        ({"region": "eu-west-1"}, lambda f: f.region == "eu-west-1"),
        ({"first_seen_from": "2025-01-03"}, lambda f: f.first_seen_at >= at(3)),
        ({"first_seen_to": "2025-01-02"}, lambda f: f.first_seen_at <= at(2)),
        ({"last_seen_from": "2025-01-12"}, lambda f: f.last_seen_at >= at(12)),
        ({"last_seen_to": "2025-01-10"}, lambda f: f.last_seen_at <= at(10)),
        ({"q": "VOL-0003"}, lambda f: f.resource_id.endswith("vol-0003")),
        ({"q": "title of fake_access"}, lambda f: f.check_id == "fake_access_ports"),
        ({"triage_state": "acknowledged"}, lambda f: f.triage_state == "acknowledged"),
        ({"triage_state": "active"}, lambda f: f.triage_state in ("open", "acknowledged", "in_progress")),
        ({"assignee": "analyst"}, lambda f: f.assignee is not None and f.assignee.username == "analyst"),
        ({"assignee": "none"}, lambda f: f.assignee_id is None),
        (
            {"environment": "staging", "status": Status.FAIL, "first_seen_from": "2025-01-02"},
            lambda f: (
                f.account.environment == "staging" and f.status == Status.FAIL and f.first_seen_at >= at(2)
            ),
        ),
    ],
)
def test_each_filter_and_a_combination(client, viewer, spread, params, expected):
    wanted = {f.pk for f in spread if expected(f)}
    assert wanted, "the fixture has no finding for this filter"
    assert set(row_ids(client.get(LIST_URL, params))) == wanted


def test_my_findings_filter(client):
    analyst = UserFactory(roles=["analyst"])
    mine = FindingFactory(assignee=analyst, triage_state="in_progress")
    FindingFactory(assignee=analyst, triage_state="resolved")
    FindingFactory(triage_state="in_progress")
    client.force_login(analyst)
    assert row_ids(client.get(LIST_URL, {"assignee": "me", "triage_state": "active"})) == [mine.pk]


def test_my_findings_filter_in_export(client):
    analyst = UserFactory(roles=["analyst"])
    mine = FindingFactory(assignee=analyst)
    FindingFactory()
    client.force_login(analyst)
    rows = export_csv(client, {"assignee": "me", "triage_state": "active"})
    assert [finding_id_of(row["url"]) for row in rows] == [mine.pk]


def test_triage_filter_active_option_explained(client, viewer):
    html = client.get(LIST_URL).content.decode()
    select = re.search(r'<select name="triage_state"[^>]*>', html).group(0)
    assert 'title="Active means open, acknowledged or in progress."' in select
    assert '<option value="active">Active</option>' in html


def test_triage_filters_set_count(client, viewer, spread):
    html = client.get(LIST_URL, {"triage_state": "acknowledged"}).content.decode()
    assert "3 matching findings" in html


def test_my_findings_linked_for_analyst(client):
    client.force_login(UserFactory(roles=["analyst"]))
    html = client.get(LIST_URL).content.decode()
    assert html.count(f'href="{LIST_URL}?assignee=me&amp;triage_state=active"') == 2


def test_my_findings_not_linked_for_viewer(client, viewer):
    assert "assignee=me" not in client.get(LIST_URL).content.decode()


# The main navigation's current page.
def test_nav_anonymous_has_no_navigation(client):
    response = client.get(reverse("login"))
    assert '<nav class="nav"' not in response.content.decode()


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_nav_my_findings_current(client, role):
    client.force_login(UserFactory(roles=[role]))
    response = client.get(LIST_URL, {"assignee": "me", "triage_state": "active", "severity": "high"})
    assert nav_current(response) == ["My findings"]


@pytest.mark.parametrize(
    "params",
    [{}, {"assignee": "me"}, {"triage_state": "active"}, {"assignee": "none", "triage_state": "active"}],
)
def test_nav_findings_current_for_other_filters(client, params):
    client.force_login(UserFactory(roles=["analyst"]))
    assert nav_current(client.get(LIST_URL, params)) == ["Findings"]


def test_nav_findings_current_for_viewer_with_my_filters(client, viewer):
    """A viewer has no "My findings" link, so the list stays under "Findings"."""
    response = client.get(LIST_URL, {"assignee": "me", "triage_state": "active"})
    assert nav_current(response) == ["Findings"]


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_nav_links_exceptions(client, role):
    client.force_login(UserFactory(roles=[role]))
    response = client.get(LIST_URL)
    assert f'<a href="{reverse("posture:exception-list")}">Exceptions</a>' in response.content.decode()


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_nav_exceptions_current_on_exception_list(client, role):
    client.force_login(UserFactory(roles=[role]))
    assert nav_current(client.get(reverse("posture:exception-list"))) == ["Exceptions"]


def test_nav_exceptions_current_on_rule_form(client):
    client.force_login(UserFactory(roles=["analyst"]))
    assert nav_current(client.get(reverse("posture:exception-new"))) == ["Exceptions"]


def test_rows_show_triage_state_and_assignee(client, viewer):
    analyst = UserFactory(username="analyst", roles=["analyst"])
    FindingFactory(triage_state="in_progress", assignee=analyst)
    html = client.get(LIST_URL).content.decode()
    assert '<th scope="col">Triage</th>' in html
    assert re.search(r"In progress<br>\s*<span class=\"muted\">analyst</span>", html)


def test_rows_link_to_finding(client, viewer):
    finding = FindingFactory()
    assert f'href="{finding.get_absolute_url()}"' in client.get(LIST_URL).content.decode()


def test_gone_hidden_unless_included(client, viewer):
    gone = FindingFactory(is_current=False)
    assert row_ids(client.get(LIST_URL)) == []
    response = client.get(LIST_URL, {"include_gone": "on"})
    assert row_ids(response) == [gone.pk]
    assert "no longer listed" in response.content.decode()


def test_form_keeps_chosen_filters(client, viewer, spread):
    html = client.get(
        LIST_URL, {"severity": "critical", "q": "vol-", "first_seen_from": "2025-01-02"}
    ).content
    html = html.decode()
    assert '<option value="critical" selected>' in html
    assert 'value="vol-"' in html
    assert 'value="2025-01-02"' in html


def test_region_choices_real_regions_and_global(client, viewer):
    html = client.get(LIST_URL).content.decode()
    assert '<option value="global">global (account-wide)</option>' in html
    assert '<option value="eu-west-1">eu-west-1</option>' in html
    assert '<option value="us-gov-west-1">us-gov-west-1</option>' in html
    assert 'value="aws-global"' not in html


def test_environment_choices_from_accounts(client, viewer, spread):
    html = client.get(LIST_URL).content.decode()
    assert '<option value="production">production</option>' in html
    assert '<option value="staging">staging</option>' in html


# Invalid filter values.
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"severity": "urgent"},
            "The severity filter was ignored: &#x27;urgent&#x27; is not a known severity.",
        ),
        ({"status": "BROKEN"}, "The status filter was ignored: &#x27;BROKEN&#x27; is not a known status."),
        ({"area": "backups"}, "The area filter was ignored: &#x27;backups&#x27; is not a known area."),
        (
            {"check": "no_such_check"},
            "The check filter was ignored: &#x27;no_such_check&#x27; is not a known",
        ),
        ({"region": "mars-1"}, "The region filter was ignored: &#x27;mars-1&#x27; is not a known region."),
        ({"environment": "qa"}, "The environment filter was ignored: &#x27;qa&#x27; is not a known"),
        ({"account": "999999999999"}, "The account filter was ignored: No account has the account id"),
        (
            {"first_seen_from": "2025-13-01"},
            "The first seen from filter was ignored: &#x27;2025-13-01&#x27; is",
        ),
        (
            {"last_seen_to": "last week"},
            "The last seen to filter was ignored: &#x27;last week&#x27; is not a date",
        ),
        ({"sort": "price"}, "The sort order was ignored: &#x27;price&#x27; is not a column to sort by."),
        ({"q": "x" * 201}, "The search filter was ignored: Ensure this value has at most 200 characters"),
        (
            {"triage_state": "done"},
            "The triage state filter was ignored: &#x27;done&#x27; is not a known triage state.",
        ),
        (
            {"assignee": "bob"},
            "The assignee filter was ignored: &#x27;bob&#x27; is not the username of an analyst or admin.",
        ),
    ],
)
def test_invalid_filter_named_and_ignored(client, viewer, params, message):
    finding = FindingFactory()
    response = client.get(LIST_URL, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert row_ids(response) == [finding.pk]


def test_invalid_filter_leaves_valid_ones_applied(client, viewer):
    matching = FindingFactory(severity=Severity.CRITICAL)
    FindingFactory(severity=Severity.LOW)
    response = client.get(LIST_URL, {"severity": "critical", "region": "mars-1"})
    assert row_ids(response) == [matching.pk]


def test_reversed_date_range_ignored(client, viewer):
    finding = FindingFactory(first_seen_at=at(5))
    response = client.get(LIST_URL, {"first_seen_from": "2025-01-09", "first_seen_to": "2025-01-02"})
    assert "The first seen range was ignored: 2025-01-09 is after 2025-01-02." in response.content.decode()
    assert row_ids(response) == [finding.pk]


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        ("garbage!", "The page link is damaged; showing the first page."),
        (Cursor("-status", (3,), 2).encode(), "The page link is damaged; showing the first page."),
        (Cursor("region", ("us-east-1", 1), 2).encode(), "belongs to another sort order; showing the first"),
    ],
)
def test_bad_cursor_shows_first_page(client, viewer, cursor, message):
    finding = FindingFactory()
    response = client.get(LIST_URL, {"after": cursor})
    assert message in response.content.decode()
    assert row_ids(response) == [finding.pk]


# Sorting.
@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_sort_matches_export_order(client, viewer, spread, sort):
    """Each column sorts both ways, and the page and the export agree on the order."""
    page = row_ids(client.get(LIST_URL, {"sort": sort}))
    exported = [finding_id_of(row["url"]) for row in export_csv(client, {"sort": sort})]
    assert page == exported
    assert sorted(page) == sorted(f.pk for f in spread)


SEVERITY_ORDER = ["critical", "high", "medium", "low"]


def test_sort_severity_descending_is_most_severe_first(client, viewer, spread):
    rows = Finding.objects.in_bulk(ids := row_ids(client.get(LIST_URL, {"sort": "-severity"})))
    positions = [SEVERITY_ORDER.index(rows[pk].severity) for pk in ids]
    assert positions == sorted(positions)


def test_sort_severity_ascending_is_least_severe_first(client, viewer, spread):
    rows = Finding.objects.in_bulk(ids := row_ids(client.get(LIST_URL, {"sort": "severity"})))
    positions = [SEVERITY_ORDER.index(rows[pk].severity) for pk in ids]
    assert positions == sorted(positions, reverse=True)


def test_sort_first_seen_descending_is_newest_first(client, viewer, spread):
    rows = Finding.objects.in_bulk(ids := row_ids(client.get(LIST_URL, {"sort": "-first_seen"})))
    times = [rows[pk].first_seen_at for pk in ids]
    assert times == sorted(times, reverse=True)


def test_sort_ties_broken_by_id(client, viewer, spread):
    rows = Finding.objects.in_bulk(ids := row_ids(client.get(LIST_URL, {"sort": "region"})))
    keys = [(rows[pk].region, pk) for pk in ids]
    assert keys == sorted(keys)


def test_sort_headers_link_and_state(client, viewer, spread):
    html = client.get(LIST_URL, {"sort": "region", "severity": "high"}).content.decode()
    assert '<th scope="col" aria-sort="ascending">' in html
    assert 'href="?sort=-region&amp;severity=high"' in html
    # Other columns start worst or newest first.
    assert 'href="?sort=-severity&amp;severity=high"' in html
    assert 'href="?sort=-last_seen&amp;severity=high"' in html
    assert 'href="?sort=account&amp;severity=high"' in html


def test_sort_kept_by_filter_form(client, viewer, spread):
    html = client.get(LIST_URL, {"sort": "-last_seen"}).content.decode()
    assert '<input type="hidden" name="sort" value="-last_seen" form="finding-filters">' in html


def test_sort_links_drop_page_cursor(client, viewer, spread, small_pages):
    second = client.get(LIST_URL + link(client.get(LIST_URL, {"sort": "region"}), "next"))
    hrefs = re.findall(r'class="sort-link" href="([^"]+)"', second.content.decode())
    assert len(hrefs) == 8
    assert not [href for href in hrefs if "after=" in href]


# Keyset pagination.
@pytest.mark.parametrize("sort", ["-status", "severity", "account", "-region", "first_seen", "-last_seen"])
def test_pages_cover_every_row_once(client, viewer, spread, small_pages, sort):
    pages = walk(client, {"sort": sort, "status": ""})
    flat = [pk for page in pages for pk in page]
    assert flat == row_ids_unpaged(client, sort)
    assert len(set(flat)) == len(spread)
    assert [len(page) for page in pages] == [5, 5, 2]


def row_ids_unpaged(client, sort: str) -> list[int]:
    return [finding_id_of(row["url"]) for row in export_csv(client, {"sort": sort})]


def test_pages_keep_filters(client, viewer, spread, small_pages):
    pages = walk(client, {"region": "us-east-1", "sort": "-first_seen"})
    wanted = {f.pk for f in spread if f.region == "us-east-1"}
    assert {pk for page in pages for pk in page} == wanted
    assert len(pages) == 2


def test_next_link_holds_filters_sort_and_cursor(client, viewer, spread, small_pages):
    href = link(client.get(LIST_URL, {"severity": "", "region": "eu-west-1", "sort": "region"}), "next")
    query = parse_qs(urlsplit(href).query)
    assert query["region"] == ["eu-west-1"]
    assert query["sort"] == ["region"]
    assert "after" in query


def test_previous_link_returns_same_page(client, viewer, spread, small_pages):
    first = client.get(LIST_URL, {"sort": "account"})
    second = client.get(LIST_URL + link(first, "next"))
    third = client.get(LIST_URL + link(second, "next"))
    back = client.get(LIST_URL + link(third, "prev"))
    assert row_ids(back) == row_ids(second)
    assert link(first, "prev") is None
    assert link(third, "next") is None


def test_page_number_shown(client, viewer, spread, small_pages):
    first = client.get(LIST_URL)
    second = client.get(LIST_URL + link(first, "next"))
    assert "Page 2" in second.content.decode()
    assert "« First" in second.content.decode()


def test_single_page_has_no_navigation(client, viewer, spread):
    assert 'aria-label="Pages"' not in client.get(LIST_URL).content.decode()


# HTMX.
def test_htmx_renders_table_only(client, viewer, spread):
    html = client.get(LIST_URL, headers=HTMX).content.decode()
    assert html.lstrip().startswith('<section id="finding-table"')
    assert "<html" not in html


@pytest.mark.parametrize(
    "params", [{}, {"severity": "critical"}, {"sort": "-resource", "region": "eu-west-1"}, {"q": "vol-0001"}]
)
def test_htmx_partial_and_full_page_same_rows(client, viewer, spread, params):
    full = client.get(LIST_URL, params)
    partial = client.get(LIST_URL, params, headers=HTMX)
    assert row_ids(partial) == row_ids(full)
    assert row_ids(full)


def test_htmx_partial_and_full_page_same_later_page(client, viewer, spread, small_pages):
    href = link(client.get(LIST_URL, {"sort": "-last_seen"}), "next")
    assert row_ids(client.get(LIST_URL + href, headers=HTMX)) == row_ids(client.get(LIST_URL + href))


def test_history_restore_gets_full_page(client, viewer, spread):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert "<html" in client.get(LIST_URL, headers=headers).content.decode()


def test_filter_form_swaps_table_and_pushes_url(client, viewer):
    html = client.get(LIST_URL).content.decode()
    form = re.search(r'<form id="finding-filters"[^>]*>', html).group(0)
    assert f'method="get" action="{LIST_URL}"' in form
    assert f'hx-get="{LIST_URL}"' in form
    assert 'hx-target="#finding-table"' in form
    assert 'hx-push-url="true"' in form
    assert "input changed delay:400ms from:#id_q" in form
    assert "change" in form


def test_page_loads_own_script_and_styles(client, viewer):
    html = client.get(LIST_URL).content.decode()
    assert '<script src="/static/js/findings.js" defer></script>' in html
    assert 'href="/static/css/findings.css"' in html


def test_page_has_no_inline_script(client, viewer, spread):
    html = client.get(LIST_URL).content.decode()
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


# Selection for bulk actions.
@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_rows_have_selection_checkboxes(client, spread, role):
    client.force_login(UserFactory(roles=[role]))
    html = client.get(LIST_URL).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="finding" value="(\d+)"', html)
    assert 'data-select-page aria-label="Select every finding on this page"' in html
    assert sorted(int(pk) for pk in boxes) == sorted(f.pk for f in spread)


def test_viewer_gets_no_selection_controls(client, viewer, spread):
    """A viewer cannot act on a selection, so the table offers none."""
    html = client.get(LIST_URL).content.decode()
    assert 'name="finding"' not in html
    assert "data-select-page" not in html
    assert 'name="all_matching"' not in html
    assert "data-selection-count" not in html
    assert "No finding selected" not in html
    assert "12 matching findings" in html
    assert len(row_ids(client.get(LIST_URL))) == 12


def test_select_all_matching_holds_filters(client, spread):
    client.force_login(UserFactory(roles=["analyst"]))
    html = client.get(LIST_URL, {"severity": "critical", "after": ""}).content.decode()
    assert '<input type="checkbox" name="all_matching" value="1">' in html
    assert '<input type="hidden" name="filters" value="severity=critical">' in html
    assert "Select all 3 matching" in html
    assert 'data-matching="3"' in html


def test_selection_form_posts_nothing(client, viewer, spread):
    html = client.get(LIST_URL).content.decode()
    form = re.search(r'<form id="finding-selection"[^>]*>', html).group(0)
    assert "action=" not in form
    assert "hx-post" not in form


def test_count_capped(client, viewer, spread, monkeypatch):
    monkeypatch.setattr(finding_views, "MATCH_COUNT_CAP", 10)
    html = client.get(LIST_URL).content.decode()
    assert "More than 10 matching findings" in html
    assert 'data-matching-more="true"' in html


def test_select_all_capped(client, spread, monkeypatch):
    monkeypatch.setattr(finding_views, "MATCH_COUNT_CAP", 10)
    client.force_login(UserFactory(roles=["analyst"]))
    assert "Select all matching (more than 10)" in client.get(LIST_URL).content.decode()


def test_count_exact(client, viewer, spread):
    assert "12 matching findings" in client.get(LIST_URL).content.decode()


# Exports.
@pytest.mark.parametrize("url", [CSV_URL, JSON_URL])
def test_export_is_streamed(client, viewer, spread, url):
    assert isinstance(client.get(url), StreamingHttpResponse)


@pytest.mark.parametrize(("url", "extension"), [(CSV_URL, "csv"), (JSON_URL, "json")])
def test_export_attachment_filename(client, viewer, url, extension):
    disposition = client.get(url)["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="findings-\d{{8}}T\d{{6}}Z\.{extension}"', disposition)


def test_export_content_types(client, viewer):
    assert client.get(CSV_URL)["Content-Type"] == "text/csv; charset=utf-8"
    assert client.get(JSON_URL)["Content-Type"] == "application/json"


def test_export_not_cached(client, viewer):
    assert client.get(CSV_URL)["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"severity": "critical"},
        {"environment": "staging", "sort": "-first_seen"},
        {"q": "vol-0002", "region": "us-east-1"},
        {"status": "FAIL", "last_seen_from": "2025-01-11", "sort": "resource"},
    ],
)
def test_export_equals_filtered_set(client, viewer, spread, params, small_pages):
    """Every page of the table, in order, is exactly the export: CSV and JSON alike."""
    shown = [pk for page in walk(client, params) for pk in page]
    assert [finding_id_of(row["url"]) for row in export_csv(client, params)] == shown
    assert [finding_id_of(row["url"]) for row in export_json(client, params)] == shown


def test_export_ignores_page_cursor(client, viewer, spread, small_pages):
    href = link(client.get(LIST_URL), "next")
    cursor = parse_qs(urlsplit(href).query)["after"][0]
    assert len(export_csv(client, {"after": cursor})) == len(spread)


def test_export_ignores_invalid_filter_like_the_table(client, viewer, spread):
    assert len(export_json(client, {"severity": "urgent"})) == len(spread)


def test_export_csv_columns_and_values(client, viewer):
    account = AccountFactory(account_id="123456789012", name="prod", environment="production")
    finding = FindingFactory(
        account=account,
        check_id="fake_access_ports",
        area=Area.ACCESS,
        severity=Severity.HIGH,
        region="eu-west-1",
        resource_id="sg-0123",
        resource_type="security-group",
        reason="Port 22 is open to 0.0.0.0/0.",
        first_seen_at=at(2),
        last_seen_at=at(9),
    )
    (row,) = export_csv(client)
    assert list(row) == list(COLUMNS)
    assert row == {
        "account_id": "123456789012",
        "account_name": "prod",
        "environment": "production",
        "region": "eu-west-1",
        "check_id": "fake_access_ports",
        "check_title": "Title of fake_access_ports",
        "area": "access",
        "severity": "high",
        "status": "FAIL",
        "triage_state": "open",
        "assignee": "",
        "exception_id": "",
        "resource_type": "security-group",
        "resource_id": "sg-0123",
        "reason": "Port 22 is open to 0.0.0.0/0.",
        "first_seen_at": "2025-01-02T12:00:00+00:00",
        "last_seen_at": "2025-01-09T12:00:00+00:00",
        "url": f"http://testserver{finding.get_absolute_url()}",
    }


def test_export_json_matches_csv(client, viewer, spread):
    assert export_json(client) == export_csv(client)


def test_export_links_carry_filters_not_cursor(client, viewer, spread, small_pages):
    href = link(client.get(LIST_URL, {"region": "us-east-1", "sort": "severity"}), "next")
    html = client.get(LIST_URL + href).content.decode()
    assert f'href="{CSV_URL}?region=us-east-1&amp;sort=severity"' in html
    assert f'href="{JSON_URL}?region=us-east-1&amp;sort=severity"' in html
    exports_hrefs = re.findall(rf'href="({CSV_URL}|{JSON_URL})([^"]*)"', html)
    assert all("after=" not in query for _, query in exports_hrefs)


# Queries do not grow with rows or with the page number.
@pytest.fixture
def many(spread):
    accounts = [AccountFactory(environment=f"env-{n}") for n in range(5)]
    for n in range(120):
        FindingFactory(account=accounts[n % 5], first_seen_at=at(1 + n % 20), region="us-east-1")


def test_first_page_queries_bounded(client, viewer, many, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        assert len(row_ids(client.get(LIST_URL))) == finding_views.FINDINGS_PER_PAGE


def test_later_page_queries_bounded(client, viewer, many, django_assert_max_num_queries):
    href = link(client.get(LIST_URL, {"sort": "-first_seen", "region": "us-east-1"}), "next")
    href = link(client.get(LIST_URL + href), "next")
    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        response = client.get(LIST_URL + href)
    assert "Page 3" in response.content.decode()


def test_htmx_page_queries_bounded(client, viewer, many, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_PAGE_QUERIES):
        client.get(LIST_URL, {"sort": "account"}, headers=HTMX)


def test_export_queries_bounded(client, viewer, many, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        assert len(export_csv(client)) == Finding.objects.count()


def test_export_carries_triage(client, viewer):
    finding = FindingFactory(check_id="fake_access_ports")
    analyst = UserFactory(username="alice", roles=["analyst"])
    admin = UserFactory(username="boss", roles=["admin"])
    triage_services.finding_assign(user=analyst, finding_id=finding.pk, assignee=analyst)
    proposal = triage_services.exception_propose(
        user=analyst, kind="false_positive", reason="Misread port.", finding_ids=[finding.pk]
    )
    triage_services.exception_approve(user=admin, exception_id=proposal.pk)
    (row,) = export_csv(client)
    assert (row["triage_state"], row["assignee"], row["exception_id"]) == (
        "false_positive",
        "alice",
        str(proposal.pk),
    )
