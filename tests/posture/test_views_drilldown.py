from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from posture import services
from posture.checks.base import Area, Status
from posture.models import Finding, Scan
from posture.selectors.drilldown import FailingPoint
from posture.views import drilldown as drilldown_views
from tests.factories import (
    AccountFactory,
    FindingFactory,
    UserFactory,
    finished_scan,
    install_fake_checks,
    result,
)

pytestmark = pytest.mark.django_db

VOLUME = "arn:aws:ec2:us-east-1:111111111111:volume/vol-{:04d}"
# Enough rows that a query per account, check or finding would break MAX_QUERIES.
MANY_ACCOUNTS = 12
RESOURCES_PER_ACCOUNT = 8
# The heaviest drill-down page needs 9 queries (4 of them for the session, user and roles).
MAX_QUERIES = 10


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def viewer(client):
    user = UserFactory(roles=["viewer"])
    client.force_login(user)
    return user


def scan_with_counts(results_by_account, *, days_ago: int = 0) -> Scan:
    """Store a finished scan with the per-check counts a real scan writes beside its findings."""
    scan = finished_scan(results_by_account, scanned_at=timezone.now() - dt.timedelta(days=days_ago))
    for account, results in results_by_account.items():
        if results is not None:
            services._check_counts_store(scan, account, results)
    return scan


def volumes(check_id: str, statuses: list[Status], *, start: int = 0) -> list:
    return [
        result(check_id, status, resource_id=VOLUME.format(start + n)) for n, status in enumerate(statuses)
    ]


@pytest.fixture
def drilled():
    """Two scans of two accounts: prod fails the trail check on two volumes, dev passes it."""
    prod = AccountFactory(name="prod")
    dev = AccountFactory(name="dev")
    scan_with_counts(
        {
            prod: volumes("fake_monitoring_trail", [Status.FAIL]),
            dev: volumes("fake_monitoring_trail", [Status.PASS]),
        },
        days_ago=1,
    )
    scan_with_counts(
        {
            prod: volumes("fake_monitoring_trail", [Status.FAIL, Status.FAIL, Status.PASS])
            + [result("fake_monitoring_alarm", Status.UNKNOWN)],
            dev: volumes("fake_monitoring_trail", [Status.PASS]) + [result("fake_access_ports", Status.FAIL)],
        }
    )
    finding = Finding.objects.filter(
        account=prod, check_id="fake_monitoring_trail", status=Status.FAIL
    ).first()
    return prod, dev, finding


def page_urls(prod, finding) -> list[str]:
    return [
        reverse("posture:area-detail", args=[Area.MONITORING]),
        reverse("posture:check-detail", args=["fake_monitoring_trail"]),
        reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk]),
        reverse("posture:finding-detail", args=[finding.pk]),
    ]


def main_of(html: str) -> str:
    """The page content without the top bar, whose logout form carries a per-request CSRF token."""
    match = re.search(r"<main class=\"page\">(.*)</main>", html, re.S)
    assert match, "the page has no <main> element"
    return match.group(1)


class LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_breadcrumbs = False
        self.crumbs: list[tuple[str, str | None]] = []
        self._current_href: str | None = None
        self._text: list[str] = []
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs)
        if tag == "nav" and attrs.get("class") == "breadcrumbs":
            self.in_breadcrumbs = True
        if self.in_breadcrumbs and tag == "li":
            self._current_href = None
            self._text = []
        if self.in_breadcrumbs and tag == "a":
            self._current_href = attrs.get("href")

    def handle_data(self, data) -> None:
        if self.in_breadcrumbs:
            self._text.append(data)

    def handle_endtag(self, tag) -> None:
        if self.in_breadcrumbs and tag == "li":
            self.crumbs.append(("".join(self._text).strip(), self._current_href))
        if tag == "nav":
            self.in_breadcrumbs = False


def parsed(html: str) -> LinkCollector:
    parser = LinkCollector()
    parser.feed(html)
    return parser


def crumbs_of(html: str) -> list[tuple[str, str | None]]:
    return parsed(html).crumbs


# Access.
def test_pages_redirect_anonymous_to_login(client, drilled):
    prod, _, finding = drilled
    for url in page_urls(prod, finding):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_pages_reject_user_without_role(client, drilled):
    prod, _, finding = drilled
    client.force_login(UserFactory())
    for url in page_urls(prod, finding):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_pages_open_to_each_role(client, drilled, role):
    prod, _, finding = drilled
    client.force_login(UserFactory(roles=[role]))
    for url in page_urls(prod, finding):
        assert client.get(url).status_code == 200, url


def test_pages_reject_post(client, viewer, drilled):
    prod, _, finding = drilled
    for url in page_urls(prod, finding):
        assert client.post(url).status_code == 405, url


def test_pages_have_no_inline_script(client, viewer, drilled):
    prod, _, finding = drilled
    for url in page_urls(prod, finding):
        for script in parsed(client.get(url).content.decode()).scripts:
            assert script.get("src") or script.get("type") == "application/json", (url, script)


def test_unknown_area_is_404(client, viewer):
    assert client.get(reverse("posture:area-detail", args=["backups"])).status_code == 404


def test_unknown_check_is_404(client, viewer):
    assert client.get(reverse("posture:check-detail", args=["no_such_check"])).status_code == 404


def test_check_account_unknown_check_is_404(client, viewer):
    account = AccountFactory()
    url = reverse("posture:check-account-detail", args=["no_such_check", account.pk])
    assert client.get(url).status_code == 404


def test_check_account_unknown_account_is_404(client, viewer):
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", 999999])
    assert client.get(url).status_code == 404


# Breadcrumbs.
def test_area_breadcrumbs(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    assert crumbs_of(html) == [
        ("Overview", reverse("posture:overview")),
        ("Security monitoring", None),
    ]


def test_check_breadcrumbs(client, viewer, drilled):
    html = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"])).content.decode()
    assert crumbs_of(html) == [
        ("Overview", reverse("posture:overview")),
        ("Security monitoring", reverse("posture:area-detail", args=[Area.MONITORING])),
        ("Title of fake_monitoring_trail", None),
    ]


def test_check_account_breadcrumbs(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    assert crumbs_of(client.get(url).content.decode()) == [
        ("Overview", reverse("posture:overview")),
        ("Security monitoring", reverse("posture:area-detail", args=[Area.MONITORING])),
        ("Title of fake_monitoring_trail", reverse("posture:check-detail", args=["fake_monitoring_trail"])),
        ("prod", None),
    ]


def test_finding_breadcrumbs(client, viewer, drilled):
    prod, _, finding = drilled
    crumbs = crumbs_of(client.get(finding.get_absolute_url()).content.decode())
    assert crumbs[:4] == [
        ("Overview", reverse("posture:overview")),
        ("Security monitoring", reverse("posture:area-detail", args=[Area.MONITORING])),
        ("Title of fake_monitoring_trail", reverse("posture:check-detail", args=["fake_monitoring_trail"])),
        ("prod", reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])),
    ]
    assert crumbs[4][0].endswith("volume/vol-0001")
    assert crumbs[4][1] is None


def test_finding_breadcrumbs_shorten_long_resource_id(client, viewer):
    finding = FindingFactory(resource_id="arn:aws:s3:::" + "b" * 80 + "-end")
    (*_, (label, _)) = crumbs_of(client.get(finding.get_absolute_url()).content.decode())
    assert label.startswith("…")
    assert label.endswith("-end")
    assert len(label) == drilldown_views.CRUMB_MAX_CHARS


def test_finding_breadcrumbs_removed_check_not_linked(client, viewer):
    finding = FindingFactory(check_id="renamed_check")
    crumbs = crumbs_of(client.get(finding.get_absolute_url()).content.decode())
    assert crumbs[2] == ("renamed_check", None)
    assert crumbs[3] == (finding.account.name, None)


def test_breadcrumbs_overview_not_boosted(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    assert f'<a href="{reverse("posture:overview")}" hx-boost="false">Overview</a>' in html
    assert '<nav class="breadcrumbs" aria-label="Breadcrumb" hx-boost="true">' in html


# Area page.
def test_area_lists_its_checks_with_links(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    assert f'href="{reverse("posture:check-detail", args=["fake_monitoring_trail"])}"' in html
    assert f'href="{reverse("posture:check-detail", args=["fake_monitoring_alarm"])}"' in html
    assert "fake_access_ports" not in html


def test_area_check_counts(client, viewer, drilled):
    response = client.get(reverse("posture:area-detail", args=[Area.MONITORING]))
    row = next(
        r["check"] for r in response.context["rows"] if r["check"].definition.id == "fake_monitoring_trail"
    )
    assert row.accounts_failing == 1
    assert row.accounts == 2
    assert row.counts.failing == 2
    assert '1 <span class="muted">of 2</span>' in response.content.decode()


def test_area_worst_check_first(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    assert html.index("Title of fake_monitoring_trail") < html.index("Title of fake_monitoring_alarm")


def test_area_sparkline_per_scanned_check(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    # The trail ran in both scans, the alarm only in the latest, which a sparkline shows as one point.
    assert html.count('<svg class="sparkline"') == 2
    assert 'points="3.0,14.0 117.0,3.0"' in html


def test_area_shows_score_of_latest_scan(client, viewer, drilled):
    response = client.get(reverse("posture:area-detail", args=[Area.MONITORING]))
    # prod fails the trail check (0), dev passes it (100); the UNKNOWN alarm decides nothing.
    assert response.context["score"].score == pytest.approx(50.0)
    assert response.context["latest_scan"].scan_id == Scan.objects.order_by("-scanned_at").first().pk


def test_area_without_scans(client, viewer):
    response = client.get(reverse("posture:area-detail", args=[Area.ACCESS]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "No finished scan has a score for this area yet." in html
    assert "no scan data" in html


def test_area_htmx_boost_renders_same_content(client, viewer, drilled):
    url = reverse("posture:area-detail", args=[Area.MONITORING])
    full = client.get(url).content.decode()
    boosted = client.get(url, headers={"HX-Request": "true", "HX-Boosted": "true"}).content.decode()
    assert main_of(boosted) == main_of(full)


def test_area_drill_links_boosted(client, viewer, drilled):
    html = client.get(reverse("posture:area-detail", args=[Area.MONITORING])).content.decode()
    assert '<table class="drill-table" hx-boost="true">' in html


# Check page.
def test_check_shows_metadata(client, viewer, drilled):
    html = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"])).content.decode()
    assert "Title of fake_monitoring_trail" in html
    assert "Whether the resource is configured safely." in html
    assert "Rationale of fake_monitoring_trail." in html
    assert "Console steps of fake_monitoring_trail." in html
    assert "aws fix fake_monitoring_trail" in html
    assert "max_age_days" in html
    assert "90 days" in html
    assert "Oldest allowed log file." in html


def test_check_threshold_changed_in_latest_scan(client, viewer, drilled):
    latest = Scan.objects.order_by("-scanned_at").first()
    latest.thresholds = {"fake_monitoring_trail": {"max_age_days": 30}}
    latest.save(update_fields=["thresholds"])
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    (row,) = response.context["thresholds"]
    assert row["in_force"] == 30
    assert row["differs"] is True
    assert "30 days" in response.content.decode()


def test_check_accounts_link_to_check_account(client, viewer, drilled):
    prod, dev, _ = drilled
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    html = response.content.decode()
    assert [row.name for row in response.context["accounts"]] == ["prod", "dev"]
    assert (
        f'href="{reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])}"' in html
    )
    assert f'href="{reverse("posture:check-account-detail", args=["fake_monitoring_trail", dev.pk])}"' in html


def test_check_totals(client, viewer, drilled):
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    assert response.context["totals"].failing == 2
    assert response.context["totals"].passing == 2
    assert response.context["accounts_failing"] == 1


def test_check_failing_resources_link_to_findings(client, viewer, drilled):
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    html = response.content.decode()
    failing = Finding.objects.filter(check_id="fake_monitoring_trail", status=Status.FAIL)
    assert len(response.context["failing"]) == 2
    for finding in failing:
        assert f'href="{finding.get_absolute_url()}"' in html


def test_check_failing_resources_capped_with_list_link(client, viewer, monkeypatch):
    monkeypatch.setattr(drilldown_views, "CHECK_FAILING_SHOWN", 3)
    finished_scan({AccountFactory(): volumes("fake_monitoring_trail", [Status.FAIL] * 5)})
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    html = response.content.decode()
    assert len(response.context["failing"]) == 3
    assert "The first 3 of 5" in html
    assert f'href="{reverse("posture:finding-list")}?check=fake_monitoring_trail&amp;status=FAIL"' in html


def test_check_trend_one_point_per_scan(client, viewer, drilled):
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    html = response.content.decode()
    assert [p.point.failing for p in response.context["chart"].points] == [1, 2]
    assert html.count('<circle class="trend__dot"') == 2
    assert "1 failing in 2 accounts" in html


def test_check_without_results(client, viewer):
    html = client.get(reverse("posture:check-detail", args=["fake_inactive_keys"])).content.decode()
    assert "No account has a current result of this check yet." in html
    assert "No finished scan has run this check yet." in html


def test_check_htmx_boost_renders_same_content(client, viewer, drilled):
    url = reverse("posture:check-detail", args=["fake_monitoring_trail"])
    full = client.get(url).content.decode()
    boosted = client.get(url, headers={"HX-Request": "true", "HX-Boosted": "true"}).content.decode()
    assert main_of(boosted) == main_of(full)


# Check-account page.
def test_check_account_lists_resources_failing_first(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    response = client.get(url)
    statuses = [f.status for f in response.context["page"].object_list]
    assert statuses == [Status.FAIL, Status.FAIL, Status.PASS]


def test_check_account_rows_link_to_finding(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    html = client.get(url).content.decode()
    for finding in Finding.objects.filter(account=prod, check_id="fake_monitoring_trail"):
        assert f'href="{finding.get_absolute_url()}"' in html


def test_check_account_shows_region_reason_last_seen(client, viewer, drilled):
    prod, _, finding = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    html = client.get(url).content.decode()
    assert finding.region in html
    assert finding.reason in html
    assert finding.last_seen_at.strftime("%Y-%m-%d %H:%M") in html


def test_check_account_excludes_other_accounts(client, viewer, drilled):
    prod, dev, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    response = client.get(url)
    assert {f.account_id for f in response.context["page"].object_list} == {prod.pk}


def test_check_account_status_filter(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    response = client.get(url, {"status": "PASS"})
    assert [f.status for f in response.context["page"].object_list] == [Status.PASS]
    assert f'href="{url}?status=PASS" hx-get="{url}?status=PASS"' in response.content.decode()


def test_check_account_status_tabs_failing_first(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    tabs = client.get(url).context["status_tabs"]
    assert [tab["label"] for tab in tabs] == ["All", "Fail", "Unknown", "Pass", "Not applicable"]
    assert [tab["count"] for tab in tabs] == [3, 2, 0, 1, 0]


def test_check_account_invalid_status_ignored(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    response = client.get(url, {"status": "BROKEN"})
    assert len(response.context["page"].object_list) == 3
    assert "The status filter &#x27;BROKEN&#x27; was ignored" in response.content.decode()


def test_check_account_paginates(client, viewer, monkeypatch):
    monkeypatch.setattr(drilldown_views, "RESOURCES_PER_PAGE", 2)
    account = AccountFactory()
    finished_scan({account: volumes("fake_monitoring_trail", [Status.FAIL] * 5)})
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", account.pk])
    response = client.get(url, {"status": "FAIL", "page": 2})
    assert len(response.context["page"].object_list) == 2
    html = response.content.decode()
    assert f'href="{url}?status=FAIL&amp;page=3"' in html
    assert f'href="{url}?status=FAIL"' in html


def test_check_account_without_results(client, viewer):
    account = AccountFactory()
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", account.pk])
    html = client.get(url).content.decode()
    assert "This account has no current result of this check." in html


def test_check_account_htmx_renders_partial_with_same_rows(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    full = client.get(url, {"status": "FAIL"}).content.decode()
    partial = client.get(url, {"status": "FAIL"}, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<section id="account-resources"')
    assert "<html" not in partial
    assert partial.strip() in full


def test_check_account_history_restore_gets_full_page(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in client.get(url, headers=headers).content.decode()


def test_check_account_boost_gets_full_page(client, viewer, drilled):
    prod, _, _ = drilled
    url = reverse("posture:check-account-detail", args=["fake_monitoring_trail", prod.pk])
    full = client.get(url).content.decode()
    boosted = client.get(url, headers={"HX-Request": "true", "HX-Boosted": "true"}).content.decode()
    assert main_of(boosted) == main_of(full)


# Finding page.
def test_finding_links_area_and_check(client, viewer, drilled):
    _, _, finding = drilled
    html = client.get(finding.get_absolute_url()).content.decode()
    assert f'href="{reverse("posture:area-detail", args=[Area.MONITORING])}" hx-boost="true"' in html
    assert f'href="{reverse("posture:check-detail", args=["fake_monitoring_trail"])}" hx-boost="true"' in html


def test_finding_keeps_evidence_and_remediation(client, viewer, drilled):
    _, _, finding = drilled
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "Evidence" in html
    assert "aws fix fake_monitoring_trail" in html
    assert "History" in html


# Trend chart geometry.
def point(day: int, failing: int | None) -> FailingPoint:
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)
    return FailingPoint(scan_id=day, scanned_at=when, failing=failing, accounts=1)


def test_trend_chart_scales_time_and_count():
    chart = drilldown_views.trend_chart(
        [point(0, 0), point(1, 5), point(4, 10)], width=100, height=50, padding=5
    )
    assert [(p.x, p.y) for p in chart.points] == [(5.0, 45.0), (27.5, 25.0), (95.0, 5.0)]
    assert chart.max_failing == 10


def test_trend_chart_gap_breaks_line():
    chart = drilldown_views.trend_chart(
        [point(0, 1), point(1, None), point(2, 1), point(3, 1)], width=100, height=50, padding=0
    )
    assert len(chart.segments) == 2
    assert len(chart.points) == 3


def test_trend_chart_all_zero_on_baseline():
    chart = drilldown_views.trend_chart([point(0, 0), point(1, 0)], width=100, height=50, padding=5)
    assert {p.y for p in chart.points} == {chart.baseline_y}


def test_trend_chart_single_point_centered():
    chart = drilldown_views.trend_chart([point(0, 3)], width=100, height=50, padding=5)
    assert chart.latest.x == 50.0


def test_trend_chart_empty():
    chart = drilldown_views.trend_chart([], width=100, height=50, padding=5)
    assert chart.points == []
    assert chart.latest is None


# Queries do not grow with rows.
@pytest.fixture
def many_rows():
    accounts = [AccountFactory() for _ in range(MANY_ACCOUNTS)]
    for days_ago in (2, 1, 0):
        scan_with_counts(
            {
                account: [
                    *volumes(
                        "fake_monitoring_trail", [Status.FAIL, Status.PASS] * (RESOURCES_PER_ACCOUNT // 2)
                    ),
                    *volumes(
                        "fake_monitoring_alarm", [Status.FAIL, Status.UNKNOWN] * (RESOURCES_PER_ACCOUNT // 2)
                    ),
                ]
                for account in accounts
            },
            days_ago=days_ago,
        )
    assert Finding.objects.count() == MANY_ACCOUNTS * RESOURCES_PER_ACCOUNT * 2
    return accounts[0], Finding.objects.filter(status=Status.FAIL).first()


def test_pages_query_count_bounded(client, viewer, many_rows, django_assert_max_num_queries):
    account, finding = many_rows
    for url in page_urls(account, finding):
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200, url


def test_check_page_lists_every_account(client, viewer, many_rows):
    response = client.get(reverse("posture:check-detail", args=["fake_monitoring_trail"]))
    assert len(response.context["accounts"]) == MANY_ACCOUNTS
    assert response.context["totals"].failing == MANY_ACCOUNTS * RESOURCES_PER_ACCOUNT // 2
