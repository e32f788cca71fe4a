"""Triage in Chromium: an analyst accepts a risk for several findings, an admin approves it, and
after the next scan the overview's headline score runs above the raw score.

The history and the next scan come from hand-made results (see test_dashboard.py). The scan is
started from the scan list as an admin would, and the test plays the worker.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import ADMIN, ANALYST
from posture import engine, tasks
from posture.models import AccountScan, Finding, ScoreSnapshot
from tests.browser.test_dashboard import PROD, STAGING, account_results, history  # noqa: F401 (fixture)
from tests.factories import UserFactory
from triage.models import FindingException

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password"
REASON = "Encrypting these volumes waits for the storage migration."


@pytest.fixture
def people(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    UserFactory(username="analyst", roles=[ANALYST], password=PASSWORD)
    UserFactory(username="admin", roles=[ADMIN], password=PASSWORD)


def overall_card(page):
    return page.locator(".score-card--overall")


def overall_scores(page) -> tuple[str, str]:
    """Return the overall card's headline score and raw score as shown."""
    card = overall_card(page)
    return card.locator(".score").inner_text().strip(), card.locator("dd").nth(1).inner_text().strip()


def queued_scan_id(account_scan_ids: list[int]) -> int:
    return AccountScan.objects.get(pk=account_scan_ids[0]).scan_id


@pytest.mark.usefixtures("history")
def test_accept_risk_approve_and_scores_diverge(browser, people, monkeypatch):
    page = browser.page
    failing = list(
        Finding.objects.filter(account__account_id=PROD, status="FAIL", is_current=True).order_by("pk")
    )
    assert len(failing) >= 3
    chosen = failing[:3]

    # The analyst selects three failing findings of prod and proposes to accept their risk.
    browser.log_in("analyst", PASSWORD)
    browser.goto("posture:overview")
    before = overall_scores(page)
    assert before[0] == before[1]
    browser.goto("posture:finding-list", query=f"account={PROD}&status=FAIL")
    for finding in chosen:
        page.check(f'input[name=finding][value="{finding.pk}"]')
    expect(page.locator("[data-selection-count]")).to_have_text("3 findings selected")
    page.select_option("#bulk-panel select[name=kind]", FindingException.Kind.RISK_ACCEPTED)
    page.fill("#bulk-panel textarea[name=reason]", REASON)
    expiry = (timezone.now() + dt.timedelta(days=30)).date().isoformat()
    page.fill("#bulk-panel input[name=expires_on]", expiry)
    page.get_by_role("button", name="Propose exception").click()
    confirmation = page.locator("#bulk-confirmation")
    expect(confirmation).to_contain_text("3 findings selected")
    assert FindingException.objects.count() == 0
    browser.screenshot("triage-bulk-confirmation")
    confirmation.get_by_role("button", name="Confirm").click()
    expect(page.locator("#finding-table")).to_contain_text("proposed for 3 findings")
    exception = FindingException.objects.get()
    assert exception.state == FindingException.State.PROPOSED
    assert set(exception.findings.values_list("pk", flat=True)) == {f.pk for f in chosen}

    # The analyst cannot approve their own proposal; an admin approves it.
    page.get_by_role("button", name="Log out").click()
    browser.log_in("admin", PASSWORD)
    browser.goto("posture:exception-detail", exception.pk)
    page.get_by_role("button", name=f"Approve exception {exception.pk}").click()
    expect(page.locator(".message--success")).to_contain_text("covers 3 findings")
    covered = Finding.objects.filter(exception=exception, triage_state=Finding.TriageState.RISK_ACCEPTED)
    assert covered.count() == 3

    # The admin starts a scan of every account; the test plays the worker.
    queued: list[int] = []
    monkeypatch.setattr(tasks.scan_account, "delay", queued.append)
    last_step = 3
    results = {PROD: account_results(PROD, last_step), STAGING: account_results(STAGING, last_step)}

    def account_scan(*, account_id: str, on_regions, on_region_done, **kwargs) -> engine.AccountOutcome:
        on_regions(["us-east-1"])
        on_region_done("us-east-1")
        return engine.AccountOutcome(regions=["us-east-1"], skipped_regions=[], results=results[account_id])

    monkeypatch.setattr(engine, "account_scan", account_scan)
    browser.goto("posture:scan-list")
    page.click("#scan-start button[type=submit]")
    page.wait_for_url(re.compile(r"/scans/\d+/$"))
    assert len(queued) == 2
    for account_scan_id in queued:
        tasks.scan_account(account_scan_id)
    expect(page.locator("#scan-state")).to_have_text("Completed")

    # The manager's view: the headline score counts the accepted risks, the raw score does not.
    latest = ScoreSnapshot.objects.filter(account__account_id=PROD, scan_id=queued_scan_id(queued))
    assert sum(s.numerator for s in latest) > sum(s.raw_numerator for s in latest)
    browser.goto("posture:overview")
    headline, raw = overall_scores(page)
    assert float(headline.rstrip("%")) > float(raw.rstrip("%"))
    figure = page.evaluate("document.getElementById('trend-chart').data.map(t => [t.name, t.y.at(-1)])")
    lines = dict(figure)
    assert lines["Overall"] > lines["Overall (raw)"]
    browser.screenshot("triage-scores-diverge")


@pytest.mark.usefixtures("history")
def test_tick_after_search_kept(browser, people):
    """Leaving the search box for a row's checkbox must not reload the table and drop the tick."""
    page = browser.page
    browser.log_in("analyst", PASSWORD)
    browser.goto("posture:finding-list")
    with page.expect_response(lambda response: "q=vol" in response.url):
        page.fill("#id_q", "vol")
    first_box = page.locator('#finding-table input[name="finding"]').first
    first_box.check()
    # Give a second request (which the change of the search box used to send) time to land.
    page.wait_for_timeout(1500)
    expect(first_box).to_be_checked()
    expect(page.locator("[data-selection-count]")).to_have_text("1 finding selected")
