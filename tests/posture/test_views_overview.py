from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from posture.checks.base import Area, Severity, Status
from posture.models import Finding, Scan, ScoreSnapshot
from posture.selectors import overview as overview_selectors
from posture.views import overview as overview_views
from tests.factories import (
    AccountFactory,
    ScanFactory,
    UserFactory,
    finished_scan,
    install_fake_checks,
    result,
)
from triage import services as triage_services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

URL = reverse("posture:overview")
HTMX = {"HX-Request": "true"}
ALL_PASS = [
    result("fake_monitoring_trail"),
    result("fake_monitoring_alarm"),
    result("fake_authentication_mfa"),
    result("fake_configuration_encryption"),
    result("fake_inactive_keys"),
    result("fake_access_ports"),
]
# Monitoring 80 (the low-weight alarm fails), authentication 0, the rest 100: overall 55.
SOME_FAIL = [
    result("fake_monitoring_trail"),
    result("fake_monitoring_alarm", Status.FAIL),
    result("fake_authentication_mfa", Status.FAIL),
    *ALL_PASS[3:],
]
# The full page needs 15 queries with the test client (4 of them for the session and roles), the
# partial 13. A query per account or per scan would exceed these with the fixtures below.
MAX_PAGE_QUERIES = 17
MAX_PARTIAL_QUERIES = 15


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


@pytest.fixture
def estate():
    """A production account that fails two checks, then passes; a staging account that always passes."""
    production = AccountFactory(name="prod-main", environment="production")
    staging = AccountFactory(name="stage-main", environment="staging")
    now = timezone.now()
    first = finished_scan({production: SOME_FAIL, staging: ALL_PASS}, scanned_at=now - dt.timedelta(days=10))
    latest = finished_scan({production: [*ALL_PASS[:2], *SOME_FAIL[2:]], staging: ALL_PASS}, scanned_at=now)
    return production, staging, first, latest


def trend_figure(html: str) -> dict:
    match = re.search(r'<script id="trend-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page has no trend-data element"
    return json.loads(match.group(1))


def section(html: str, pattern: str) -> str:
    match = re.search(pattern, html, re.S)
    assert match, pattern
    return match.group(0)


def score_cards_html(html: str) -> str:
    return section(html, r'<section class="cards".*?</section>')


def ranking_html(html: str) -> str:
    return section(html, r'<table class="ranking">.*?</table>')


# Access.
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_overview_anonymous_redirected_to_login(client, estate, headers):
    response = client.get(URL, headers=headers)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_overview_user_without_role_forbidden(client, estate, headers):
    client.force_login(UserFactory())
    assert client.get(URL, headers=headers).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_overview_open_to_each_role(client, estate, role, headers):
    client.force_login(UserFactory(roles=[role]))
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert 'id="trend-data"' in response.content.decode()


def test_overview_rejects_post(client, viewer):
    assert client.post(URL).status_code == 405


# Empty states.
def test_overview_empty_explains_first_scan(client, viewer):
    html = client.get(URL).content.decode()
    assert "No scores yet" in html
    assert 'id="trend-data"' not in html
    assert 'name="environment"' not in html


def test_overview_empty_shows_running_scan(client, viewer):
    scan = ScanFactory(state=Scan.State.RUNNING)
    html = client.get(URL).content.decode()
    assert f'href="{scan.get_absolute_url()}"' in html


def test_overview_filter_without_scores(client, viewer, estate):
    AccountFactory(name="fresh", environment="sandbox")
    response = client.get(URL, {"environment": "sandbox"})
    html = response.content.decode()
    assert "No scores for this filter" in html
    assert 'name="environment"' in html
    assert 'id="trend-data"' not in html


# Page and partial.
def test_overview_partial_is_results_only(client, viewer, estate):
    html = client.get(URL, headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="overview-results"')
    assert "<html" not in html
    assert "How the score is computed" not in html


def test_overview_partial_and_page_same_scores(client, viewer, estate):
    page = client.get(URL, {"environment": "production"}).content.decode()
    partial = client.get(URL, {"environment": "production"}, headers=HTMX).content.decode()
    assert score_cards_html(partial) == score_cards_html(page)
    assert trend_figure(partial) == trend_figure(page)
    assert ranking_html(partial) == ranking_html(page)


def test_overview_history_restore_gets_full_page(client, viewer, estate):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    html = client.get(URL, headers=headers).content.decode()
    assert "<html" in html


def test_overview_varies_on_htmx_header(client, viewer, estate):
    assert "HX-Request" in client.get(URL)["Vary"]


def test_overview_filter_form_swaps_results(client, viewer, estate):
    form = section(client.get(URL).content.decode(), r'<form class="filters overview-filter".*?>')
    assert 'method="get"' in form
    assert f'hx-get="{URL}"' in form
    assert 'hx-target="#overview-results"' in form
    assert 'hx-push-url="true"' in form


def test_overview_filter_inside_swapped_results(client, viewer, estate):
    partial = client.get(URL, {"environment": "staging"}, headers=HTMX).content.decode()
    assert '<option value="staging" selected>' in partial


# Filter.
def test_overview_filter_by_environment(client, viewer, estate):
    response = client.get(URL, {"environment": "staging"})
    assert response.context["cards"][0].score == pytest.approx(100.0)
    assert "for the 1 account in environment staging" in response.content.decode()


def test_overview_filter_by_account(client, viewer, estate):
    production, *_ = estate
    response = client.get(URL, {"account": production.account_id})
    overall = response.context["cards"][0]
    # Authentication (weight 8 of 20) still fails: 100 x 12 / 20.
    assert overall.score == pytest.approx(60.0)
    assert overall.changes[7] == pytest.approx(5.0)


def test_overview_filter_ranks_only_matching_accounts(client, viewer, estate):
    ranking = ranking_html(client.get(URL, {"environment": "staging"}).content.decode())
    assert "stage-main" in ranking
    assert "prod-main" not in ranking


def test_overview_filter_invalid_value_ignored(client, viewer, estate):
    response = client.get(URL, {"environment": "no-such-label"})
    assert response.status_code == 200
    assert response.context["cards"][0].score == pytest.approx(80.0)
    assert "Select a valid choice" in response.content.decode()


def test_overview_filter_lists_environments(client, viewer, estate):
    html = client.get(URL).content.decode()
    assert '<option value="production">production</option>' in html
    assert '<option value="staging">staging</option>' in html


# Headline and cards.
def test_overview_headline_names_worst_area_and_account(client, viewer, estate):
    headline = section(client.get(URL).content.decode(), r'<p class="headline".*?</p>')
    assert "Overall score 80.0" in headline
    assert "up 2.5 points over 7 days" in headline
    assert Area.AUTHENTICATION.label in headline
    assert "prod-main" in headline


def test_overview_cards_show_changes_and_coverage(client, viewer, estate):
    cards = score_cards_html(client.get(URL).content.decode())
    assert "+2.5" in cards
    assert "100%" in cards


def test_overview_cards_link_to_areas(client, viewer, estate):
    cards = score_cards_html(client.get(URL).content.decode())
    assert f'href="{reverse("posture:area-detail", args=[Area.ACCESS.value])}"' in cards


def test_overview_card_marks_incomplete_coverage(client, viewer):
    finished_scan({AccountFactory(): ALL_PASS, AccountFactory(): None})
    cards = score_cards_html(client.get(URL).content.decode())
    assert "incomplete" in cards


# Chart.
def test_overview_chart_traces(client, viewer, estate):
    figure = trend_figure(client.get(URL).content.decode())
    names = sorted(trace["name"] for trace in figure["data"])
    assert names == sorted(["Overall", "Overall (raw)", *(area.label for area in Area)])


def test_overview_chart_container_names_its_data(client, viewer, estate):
    html = client.get(URL).content.decode()
    assert re.search(r'<div id="trend-chart" class="chart" data-figure="trend-data"', html)


def test_overview_chart_marks_ruleset_change_from_snapshots(client, viewer, estate):
    *_, latest = estate
    ScoreSnapshot.objects.filter(scan=latest).update(ruleset_version="next-ruleset")
    figure = trend_figure(client.get(URL).content.decode())
    assert len(figure["layout"]["shapes"]) == 1


def test_overview_chart_hollow_for_incomplete_scan(client, viewer):
    finished_scan({AccountFactory(): ALL_PASS, AccountFactory(): None})
    figure = trend_figure(client.get(URL).content.decode())
    overall = next(trace for trace in figure["data"] if trace["name"] == "Overall")
    assert overall["marker"]["symbol"] == ["circle-open"]
    assert overall["text"] == ["incomplete: coverage 50 %"]


# Changes of the latest scan.
def test_overview_changes_link_to_findings(client, viewer, estate):
    html = section(
        client.get(URL).content.decode(),
        r'<section class="card" aria-labelledby="changes-title">.*?</section>',
    )
    resolved = Finding.objects.get(check_id="fake_monitoring_alarm", account__name="prod-main")
    assert f'href="{resolved.get_absolute_url()}"' in html
    assert 'Resolved <span class="badge">1</span>' in html


def test_overview_changes_link_to_filtered_list(client, viewer, estate):
    html = client.get(URL, {"environment": "production"}).content.decode()
    assert f'href="{reverse("posture:finding-list")}?status=PASS&amp;environment=production"' in html


def test_overview_changes_capped(client, viewer):
    count = overview_selectors.EVENTS_PER_KIND + 1
    failing = [
        result("fake_access_ports", Status.FAIL, resource_id=f"arn:aws:ec2:us-east-1:1:security-group/sg-{n}")
        for n in range(count)
    ]
    finished_scan({AccountFactory(): failing})
    html = client.get(URL).content.decode()
    assert f"Showing {overview_selectors.EVENTS_PER_KIND} of {count}" in html


# Remediation.
def remediation_html(html: str) -> str:
    return section(html, r'<section class="card remediation".*?</section>')


def remediation_row(response, grouping: str, key: str):
    rows = getattr(response.context["remediation"], f"by_{grouping}")
    return next(row for row in rows if row.key == key)


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_overview_remediation_for_each_role(client, estate, role):
    client.force_login(UserFactory(roles=[role]))
    html = remediation_html(client.get(URL).content.decode())
    assert '<h2 id="remediation-title">Remediation</h2>' in html


def test_overview_remediation_ages_failing_finding(client, viewer, estate):
    # Authentication's critical check has failed in prod-main since the first scan, 10 days ago.
    critical = remediation_row(client.get(URL), "severity", Severity.CRITICAL)
    assert critical.ages.buckets == (0, 1, 0, 0)
    assert critical.ages.oldest_days == 10


def test_overview_remediation_mean_time(client, viewer, estate):
    # The low alarm failed in the first scan and passed in the latest, 10 days later.
    low = remediation_row(client.get(URL), "severity", Severity.LOW)
    assert low.remediated.count == 1
    assert low.remediated.mean_days == pytest.approx(10.0)


def test_overview_remediation_rows_per_area(client, viewer, estate):
    html = remediation_html(client.get(URL).content.decode())
    for area in Area:
        assert f'<th scope="row">{area.label}</th>' in html


def test_overview_remediation_links_to_failing_findings(client, viewer, estate):
    html = remediation_html(client.get(URL).content.decode())
    findings = reverse("posture:finding-list")
    assert f'href="{findings}?status=FAIL&amp;severity=critical"' in html
    assert f'href="{findings}?status=FAIL&amp;area=authentication"' in html


def test_overview_remediation_links_keep_filter(client, viewer, estate):
    html = remediation_html(client.get(URL, {"environment": "production"}).content.decode())
    findings = reverse("posture:finding-list")
    assert f'href="{findings}?status=FAIL&amp;severity=critical&amp;environment=production"' in html


def test_overview_remediation_follows_filter(client, viewer, estate):
    response = client.get(URL, {"environment": "staging"}, headers=HTMX)
    assert remediation_row(response, "severity", Severity.CRITICAL).ages.failing == 0
    assert remediation_row(response, "severity", Severity.LOW).remediated.count == 0


def test_overview_partial_includes_remediation(client, viewer, estate):
    page = client.get(URL, {"environment": "production"}).content.decode()
    partial = client.get(URL, {"environment": "production"}, headers=HTMX).content.decode()
    assert remediation_html(partial) == remediation_html(page)


# Ranking.
def test_overview_ranks_accounts_worst_first(client, viewer, estate):
    ranking = ranking_html(client.get(URL).content.decode())
    assert ranking.index("prod-main") < ranking.index("stage-main")


def test_overview_ranking_has_sparklines(client, viewer, estate):
    ranking = ranking_html(client.get(URL).content.decode())
    assert ranking.count('<svg class="sparkline') == 2
    assert ranking.count("<polyline") == 2


def test_overview_ranking_pages_keep_filter(client, viewer, estate, monkeypatch):
    monkeypatch.setattr(overview_views, "ACCOUNTS_PER_PAGE", 1)
    AccountFactory(environment="production")
    html = client.get(URL).content.decode()
    assert "?page=2" in html
    html = client.get(URL, {"environment": "staging", "account": ""}).content.decode()
    assert "page=2" not in html


# Formula and assets.
def test_overview_explains_formula(client, viewer):
    html = client.get(URL).content.decode()
    assert "critical 8" in html
    # Fake checks: authentication has one critical check, so weight 8.
    assert "Secure authentication 8" in html
    assert "coverage under 95 %" in html


def test_overview_shows_scan_notes(client, viewer):
    finished_scan({AccountFactory(): ALL_PASS}, note="Demo data: scan dates are simulated.")
    html = client.get(URL).content.decode()
    assert "Demo data: scan dates are simulated." in html


def test_overview_loads_plotly_from_static(client, viewer, estate):
    html = client.get(URL).content.decode()
    assert re.search(r'<script src="[^"]*vendor/plotly\.min\.js" defer>', html)
    assert finders.find("vendor/plotly.min.js")


def test_overview_no_inline_script(client, viewer, estate):
    html = client.get(URL).content.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


# Queries.
def queries_of(client, params: dict, headers: dict) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL, params, headers=headers).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def add_history(accounts: int, scans: int) -> None:
    """Store `scans` daily scans of `accounts` new production accounts."""
    estate = [AccountFactory(environment="production") for _ in range(accounts)]
    now = timezone.now()
    for day in range(scans):
        results = {account: SOME_FAIL if (day + n) % 2 else ALL_PASS for n, account in enumerate(estate)}
        finished_scan(results, scanned_at=now - dt.timedelta(days=scans - day))


@pytest.mark.parametrize(
    ("params", "headers", "limit"),
    [({}, {}, MAX_PAGE_QUERIES), ({"environment": "production"}, HTMX, MAX_PARTIAL_QUERIES)],
    ids=["page", "partial"],
)
def test_overview_query_count_fixed(client, viewer, django_assert_max_num_queries, params, headers, limit):
    add_history(accounts=2, scans=2)
    small = len(queries_of(client, params, headers))
    add_history(accounts=10, scans=4)
    with django_assert_max_num_queries(limit):
        large = len(queries_of(client, params, headers))
    assert large == small


def test_overview_reads_findings_for_changes_and_remediation(client, viewer, estate):
    reading_findings = [sql for sql in queries_of(client, {}, {}) if re.search(r"\bposture_finding\b", sql)]
    # The latest scan's changes and the times to remediate read events; the ages and the exceptions
    # in force read findings only.
    assert len(reading_findings) == 4
    assert len([sql for sql in reading_findings if "posture_findingevent" in sql]) == 2


# Exceptions in force.
def accepted_risk(check_id: str) -> FindingException:
    analyst = UserFactory(roles=["analyst"])
    admin = UserFactory(roles=["admin"])
    exception = triage_services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Waiting for the hardware tokens.",
        expires_at=timezone.now() + dt.timedelta(days=10),
        check_id=check_id,
    )
    return triage_services.exception_approve(user=admin, exception_id=exception.pk)


def in_force_html(html: str) -> str:
    return section(html, r'<section class="card exceptions-in-force".*?</section>')


def test_overview_lists_accepted_risk_in_force(client, viewer, estate):
    exception = accepted_risk("fake_authentication_mfa")
    html = in_force_html(client.get(URL).content.decode())
    assert "Accepted risks cover 1 failing finding now" in html
    assert reverse("posture:exception-detail", args=[exception.pk]) in html


def test_overview_in_force_shows_reason_and_expiry(client, viewer, estate):
    exception = accepted_risk("fake_authentication_mfa")
    html = in_force_html(client.get(URL).content.decode())
    assert "Waiting for the hardware tokens." in html
    assert f"{exception.expires_at:%Y-%m-%d}" in html


def test_overview_in_force_follows_filter(client, viewer, estate):
    accepted_risk("fake_authentication_mfa")
    html = in_force_html(client.get(URL, {"environment": "staging"}).content.decode())
    assert "No valid exception covers a failing finding of these accounts" in html


def test_overview_in_force_leaves_out_expired(client, viewer, estate):
    exception = accepted_risk("fake_authentication_mfa")
    FindingException.objects.filter(pk=exception.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    html = in_force_html(client.get(URL).content.decode())
    assert "No valid exception covers a failing finding" in html


def test_overview_in_force_in_partial(client, viewer, estate):
    accepted_risk("fake_authentication_mfa")
    html = client.get(URL, {"environment": "production"}, headers=HTMX).content.decode()
    assert "Accepted risks cover 1 failing finding now" in in_force_html(html)
