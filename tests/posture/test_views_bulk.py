from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMIN, ANALYST, VIEWER
from posture import forms as posture_forms
from posture.checks.base import Severity
from posture.models import Finding, FindingEvent
from tests.factories import FindingFactory, UserFactory, install_fake_checks
from triage import selectors as triage_selectors
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

BULK_URL = reverse("posture:finding-bulk")
LIST_URL = reverse("posture:finding-list")
HTMX = {"HX-Request": "true"}
State = Finding.TriageState
Kind = FindingEvent.Kind


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def alice():
    return UserFactory(username="alice", roles=[ANALYST])


@pytest.fixture
def findings() -> list[Finding]:
    return [FindingFactory(severity=Severity.HIGH) for _ in range(5)]


def in_days(days: int) -> str:
    return (timezone.now() + dt.timedelta(days=days)).date().isoformat()


def triage_data(findings: list[Finding], **fields) -> dict:
    return {"action": "triage", "finding": [f.pk for f in findings], "filters": "", **fields}


def exception_data(findings: list[Finding], **fields) -> dict:
    return {
        "action": "exception",
        "finding": [f.pk for f in findings],
        "filters": "",
        "kind": "risk_accepted",
        "reason": "Sandbox data only.",
        "expires_on": in_days(30),
        **fields,
    }


def snapshot() -> tuple:
    """Return everything a bulk action may write: triage fields, events and exceptions."""
    return (
        list(Finding.objects.order_by("pk").values_list("pk", "triage_state", "assignee_id")),
        FindingEvent.objects.count(),
        FindingException.objects.count(),
    )


def text(response) -> str:
    """Return the response's HTML with tags removed and entities decoded, blanks collapsed."""
    plain = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(unescape(plain).split())


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Roles.
def test_anonymous_redirected_to_login(client, findings):
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged", confirm="1"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert snapshot() == before


def test_viewer_forbidden(client, findings, viewer):
    client.force_login(viewer)
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged", confirm="1"))
    assert response.status_code == 403
    assert snapshot() == before


def test_user_without_role_forbidden(client, findings):
    client.force_login(UserFactory())
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged", confirm="1"))
    assert response.status_code == 403


@pytest.mark.parametrize("role", [VIEWER, ANALYST, ADMIN])
def test_get_not_allowed(client, role):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(BULK_URL).status_code == 405


@pytest.mark.parametrize("role", [ANALYST, ADMIN])
def test_analyst_and_admin_confirm(client, findings, role):
    client.force_login(UserFactory(roles=[role]))
    client.post(BULK_URL, triage_data(findings, state="acknowledged", confirm="1"))
    assert Finding.objects.filter(triage_state=State.ACKNOWLEDGED).count() == len(findings)


# Review, then confirm.
def test_review_writes_nothing(client, findings, analyst, alice):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(
        BULK_URL,
        triage_data(findings, state="in_progress", assignee=alice.pk, comment="Sprint"),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert snapshot() == before


def test_review_count_exact_for_mixed_selection(client, findings, analyst, alice):
    """Of five findings, two have the state already and one of them the assignee too."""
    services.findings_bulk_triage(
        user=analyst, finding_ids=[findings[0].pk], state="in_progress", assignee=alice
    )
    services.findings_bulk_triage(user=analyst, finding_ids=[findings[1].pk], state="in_progress")
    client.force_login(analyst)
    response = client.post(
        BULK_URL, triage_data(findings, state="in_progress", assignee=alice.pk), headers=HTMX
    )
    assert (
        "5 findings selected: 3 change state to In progress, 4 get assignee alice; 1 already has them."
        in text(response)
    )


def test_review_mentions_comment(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, comment="Checked with the owner."), headers=HTMX)
    assert "5 findings selected: all 5 get the comment." in text(response)


def test_review_one_unchanged_singular(client, findings, analyst, alice):
    services.findings_bulk_triage(user=analyst, finding_ids=[f.pk for f in findings[:4]], assignee=alice)
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, unassign="on"), headers=HTMX)
    assert "5 findings selected: 4 lose their assignee; 1 already has it." in text(response)


def test_review_unassign_count(client, findings, analyst, alice):
    services.findings_bulk_triage(user=analyst, finding_ids=[f.pk for f in findings[:2]], assignee=alice)
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, unassign="on"), headers=HTMX)
    assert "5 findings selected: 2 lose their assignee; 3 already have it." in text(response)


def test_review_count_matches_service(client, findings, analyst, alice):
    """The preview's count is what the confirmed action then writes."""
    services.findings_bulk_triage(user=analyst, finding_ids=[findings[0].pk], state="acknowledged")
    data = triage_data(findings, state="acknowledged", assignee=alice.pk)
    preview = triage_selectors.findings_bulk_preview(
        user=analyst, finding_ids=data["finding"], state="acknowledged", assignee=alice
    )
    client.force_login(analyst)
    response = client.post(BULK_URL, {**data, "confirm": "1"})
    assert message_texts(response) == [f"{preview.changed} of 5 findings changed."]
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED).count() == 1 + len(preview.state_ids)
    assert FindingEvent.objects.filter(kind=Kind.ASSIGNED).count() == len(preview.assign_ids)


def test_confirmation_posts_same_fields(client, findings, analyst, alice):
    client.force_login(analyst)
    response = client.post(
        BULK_URL,
        triage_data(findings[:2], state="in_progress", assignee=alice.pk, comment="Sprint"),
        headers=HTMX,
    )
    html = response.content.decode()
    assert f'hx-post="{BULK_URL}"' in html
    assert '<input type="hidden" name="confirm" value="1">' in html
    assert f'name="finding" value="{findings[0].pk}"' in html
    assert f'name="finding" value="{findings[1].pk}"' in html
    assert 'name="state" value="in_progress"' in html
    assert f'name="assignee" value="{alice.pk}"' in html
    assert 'name="comment" value="Sprint"' in html
    assert ">Confirm</button>" in html
    assert "data-bulk-cancel" in html


def test_confirm_writes_events(client, findings, analyst, alice):
    client.force_login(analyst)
    client.post(
        BULK_URL,
        triage_data(findings, state="in_progress", assignee=alice.pk, comment="Sprint", confirm="1"),
    )
    assert Finding.objects.filter(triage_state=State.IN_PROGRESS, assignee=alice).count() == 5
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED, actor=analyst, comment="Sprint").count() == 5
    assert FindingEvent.objects.filter(kind=Kind.ASSIGNED, actor=analyst, new_value="alice").count() == 5


def test_confirm_without_htmx_redirects_with_message(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(
        BULK_URL, triage_data(findings, state="acknowledged", confirm="1", filters="severity=high")
    )
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}?severity=high"
    assert message_texts(response) == ["5 of 5 findings changed."]


def test_confirm_with_htmx_refreshes_table(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(
        BULK_URL,
        triage_data(findings, state="acknowledged", confirm="1", filters="severity=high"),
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="finding-table"')
    assert "5 of 5 findings changed." in html
    assert response["HX-Replace-Url"] == f"{LIST_URL}?severity=high"
    assert len(re.findall(r'<td class="nowrap">\s*Acknowledged<br>', html)) == 5


def test_review_clears_earlier_errors(client, findings, analyst):
    """A review that passes swaps the panel out of band, without the errors of the review before."""
    client.force_login(analyst)
    rejected = client.post(BULK_URL, exception_data(findings, expires_on=in_days(400)), headers=HTMX)
    assert "bulk-panel__error" in rejected.content.decode()
    response = client.post(BULK_URL, exception_data(findings, reason="Kept as typed."), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<fieldset id="bulk-panel" class="bulk-panel" hx-swap-oob="true">' in html
    assert "bulk-panel__error" not in html
    assert 'role="alert"' not in html
    assert "Kept as typed.</textarea>" in html
    assert f'value="{in_days(30)}"' in html


def test_review_answers_confirmation_first(client, findings, analyst):
    """htmx swaps the first element into #bulk-confirmation, and the panel by its id."""
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged"), headers=HTMX)
    assert response.content.decode().lstrip().startswith('<div class="card bulk-confirmation"')


def test_review_nothing_to_change_offers_no_confirm(client, findings, analyst, alice):
    services.findings_bulk_triage(
        user=analyst, finding_ids=[f.pk for f in findings], state="in_progress", assignee=alice
    )
    client.force_login(analyst)
    response = client.post(
        BULK_URL, triage_data(findings, state="in_progress", assignee=alice.pk), headers=HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "5 findings selected: nothing would change, because all 5 already have the state In progress "
        "and the assignee alice. Choose other values, or add a comment."
    ) in text(response)
    assert ">Confirm</button>" not in html
    assert 'name="confirm"' not in html
    assert ">Close</a>" in html


def test_review_nothing_to_change_one_finding(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings[:1], unassign="on"), headers=HTMX)
    assert "1 finding selected: nothing would change, because it already has no assignee." in text(response)


def test_review_nothing_to_change_two_findings(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings[:2], state="open"), headers=HTMX)
    assert "2 findings selected: nothing would change, because both already have the state Open." in text(
        response
    )


def test_review_nothing_to_change_without_htmx(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="open", filters="severity=high"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "nothing would change, because all 5 already have the state Open." in text(response)
    assert ">Confirm</button>" not in html
    assert f'<a href="{LIST_URL}?severity=high" data-bulk-cancel>Back to the findings</a>' in html


def test_review_comment_without_other_change_confirms(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="open", comment="Seen."), headers=HTMX)
    assert "0 change state to Open; 5 already have it; all 5 get the comment." in text(response)
    assert ">Confirm</button>" in response.content.decode()


def test_review_without_htmx_renders_page(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Review bulk changes</h1>" in html
    assert "5 findings selected: 5 change state to Acknowledged." in text(response)
    assert f'action="{BULK_URL}"' in html


# Selecting every matching finding.
def test_all_matching_uses_filters(client, analyst):
    high = [FindingFactory(severity=Severity.HIGH) for _ in range(3)]
    low = FindingFactory(severity=Severity.LOW)
    client.force_login(analyst)
    data = {"action": "triage", "all_matching": "1", "filters": "severity=high", "state": "acknowledged"}
    review = client.post(BULK_URL, data, headers=HTMX)
    assert "3 findings selected (every finding that matches the filters)" in text(review)
    client.post(BULK_URL, {**data, "confirm": "1"})
    assert set(Finding.objects.filter(triage_state=State.ACKNOWLEDGED)) == set(high)
    low.refresh_from_db()
    assert low.triage_state == State.OPEN


def test_all_matching_ignores_posted_ids(client, analyst):
    high = FindingFactory(severity=Severity.HIGH)
    low = FindingFactory(severity=Severity.LOW)
    client.force_login(analyst)
    client.post(
        BULK_URL,
        {
            "action": "triage",
            "all_matching": "1",
            "filters": "severity=high",
            "finding": [low.pk],
            "state": "acknowledged",
            "confirm": "1",
        },
    )
    assert list(Finding.objects.filter(triage_state=State.ACKNOWLEDGED)) == [high]


def test_all_matching_my_findings(client, analyst, alice):
    mine = FindingFactory()
    FindingFactory()
    services.findings_bulk_triage(user=analyst, finding_ids=[mine.pk], assignee=analyst)
    client.force_login(analyst)
    client.post(
        BULK_URL,
        {
            "action": "triage",
            "all_matching": "1",
            "filters": "assignee=me&triage_state=active",
            "assignee": alice.pk,
            "confirm": "1",
        },
    )
    assert list(Finding.objects.filter(assignee=alice)) == [mine]


def test_all_matching_invalid_filter_named(client, findings, analyst):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(
        BULK_URL,
        {"action": "triage", "all_matching": "1", "filters": "severity=urgent", "state": "acknowledged"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "The severity filter is invalid: 'urgent' is not a known severity." in text(response)
    assert snapshot() == before


def test_all_matching_over_limit_rejected(client, findings, analyst, monkeypatch):
    monkeypatch.setattr(posture_forms, "BULK_MAX", 4)
    client.force_login(analyst)
    before = snapshot()
    response = client.post(
        BULK_URL,
        {"action": "triage", "all_matching": "1", "filters": "", "state": "acknowledged"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "More than 4 findings match the filters" in text(response)
    assert snapshot() == before


# Bad input: a message naming the value, in the panel, and nothing written.
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"finding": []}, "No finding is selected."),
        ({"finding": ["987654"]}, "Findings 987654 do not exist or are not visible to you"),
        ({"finding": ["abc"]}, "'abc' is not a finding id."),
        ({"state": "risk_accepted"}, "The state 'risk_accepted' comes from an exception."),
        ({"state": "closed"}, "Unknown triage state 'closed'."),
        ({"state": ""}, "Nothing to do: choose a state, an assignee or write a comment."),
        ({"assignee": "999999"}, "User id '999999' not found."),
        ({"action": "delete"}, "'delete' is not a bulk action."),
    ],
)
def test_bad_triage_input_rejected(client, findings, analyst, fields, expected):
    client.force_login(analyst)
    before = snapshot()
    data = {**triage_data(findings, state="acknowledged"), **fields}
    response = client.post(BULK_URL, data, headers=HTMX)
    assert response.status_code == 422
    assert expected in text(response)
    assert snapshot() == before


def test_bad_input_rejected_at_confirm(client, findings, analyst):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, state="risk_accepted", confirm="1"), headers=HTMX)
    assert response.status_code == 422
    assert snapshot() == before


def test_bad_input_answers_panel(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="closed", comment="Keep me"), headers=HTMX)
    html = response.content.decode()
    assert response["HX-Retarget"] == "#bulk-panel"
    assert response["HX-Reswap"] == "outerHTML"
    assert '<fieldset id="bulk-panel"' in html
    assert "Keep me</textarea>" in html
    assert '<div id="bulk-confirmation" hx-swap-oob="true"></div>' in html


def test_assign_and_unassign_rejected(client, findings, analyst, alice):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, assignee=alice.pk, unassign="on"), headers=HTMX)
    assert response.status_code == 422
    assert "Choose an assignee or unassign, not both." in text(response)
    assert snapshot() == before


def test_assign_viewer_rejected(client, findings, analyst, viewer):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, assignee=viewer.pk), headers=HTMX)
    assert "viewer cannot be assigned findings" in text(response)
    assert snapshot() == before


def test_too_many_ids_rejected(client, findings, analyst, monkeypatch):
    monkeypatch.setattr(triage_selectors, "BULK_MAX", 4)
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, triage_data(findings, state="acknowledged"), headers=HTMX)
    assert response.status_code == 422
    assert "5 findings are selected; a bulk action takes at most 4." in text(response)
    assert snapshot() == before


def test_bad_input_without_htmx_renders_page(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="closed", filters="severity=high"))
    assert response.status_code == 422
    assert "Unknown triage state 'closed'." in text(response)
    assert f'href="{LIST_URL}?severity=high"' in response.content.decode()


# Proposing an exception for the selection.
def test_exception_review_writes_nothing(client, findings, analyst):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, exception_data(findings), headers=HTMX)
    assert response.status_code == 200
    assert (
        "5 findings selected: an accepted-risk exception expiring "
        f"{in_days(30)} will be proposed for them. It covers them once an admin other than you approves it."
    ) in text(response)
    assert snapshot() == before


def test_exception_review_false_positive_without_expiry(client, findings, analyst):
    client.force_login(analyst)
    data = exception_data(findings[:1], kind="false_positive", expires_on="")
    response = client.post(BULK_URL, data, headers=HTMX)
    assert (
        "1 finding selected: a false-positive exception without expiry will be proposed for it. "
        "It covers the finding once an admin other than you approves it."
    ) in text(response)


def test_exception_review_counts_covered(client, findings, analyst, admin_user):
    proposal = services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads this volume.",
        finding_ids=[findings[0].pk],
    )
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    client.force_login(analyst)
    response = client.post(BULK_URL, exception_data(findings), headers=HTMX)
    assert "1 of them is covered by another exception already." in text(response)


def test_exception_confirm_proposes(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(BULK_URL, {**exception_data(findings), "confirm": "1"})
    exception = FindingException.objects.get()
    assert exception.state == FindingException.State.PROPOSED
    assert exception.created_by == analyst
    assert set(exception.findings.all()) == set(findings)
    assert message_texts(response) == [
        f"Exception {exception.pk} proposed for 5 findings. "
        "It covers them once an admin other than you approves it."
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reason": "  "}, "The reason is empty."),
        ({"expires_on": in_days(-1)}, "is not in the future"),
        ({"expires_on": in_days(400)}, "is more than 365 days ahead"),
        ({"expires_on": ""}, "An accepted risk needs an expiry."),
        ({"expires_on": "next week"}, "'next week' is not a date."),
        ({"kind": "waived"}, "Unknown exception kind 'waived'."),
        ({"finding": []}, "No finding is selected."),
        ({"finding": ["987654"]}, "Findings 987654 do not exist or are not visible to you"),
    ],
)
def test_bad_exception_input_rejected(client, findings, analyst, fields, expected):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(BULK_URL, {**exception_data(findings), **fields, "confirm": "1"}, headers=HTMX)
    assert response.status_code == 422
    assert expected in text(response)
    assert snapshot() == before


# The panel on the findings page.
def test_panel_shown_to_analyst(client, findings, analyst):
    client.force_login(analyst)
    html = client.get(LIST_URL).content.decode()
    assert '<fieldset id="bulk-panel"' in html
    assert ">Review changes</button>" in html
    assert ">Propose exception</button>" in html
    assert '<div id="bulk-confirmation"' in html
    for label in ("State", "Assignee", "Comment", "Exception kind", "Reason", "Expires on"):
        assert f"<span>{label}</span>" in html


def test_panel_hidden_from_viewer(client, findings, viewer):
    client.force_login(viewer)
    html = client.get(LIST_URL).content.decode()
    assert "bulk-panel" not in html
    assert BULK_URL not in html


def test_panel_offers_manual_states_only(client, findings, analyst):
    client.force_login(analyst)
    html = client.get(LIST_URL).content.decode()
    panel = html[html.index('<fieldset id="bulk-panel"') :]
    assert '<option value="in_progress">In progress</option>' in panel
    assert 'value="risk_accepted"' not in panel.split('name="kind"')[0]


def false_positive_approved(finding: Finding, analyst, admin) -> None:
    """Cover `finding` with an approved false positive, so an exception sets its triage state."""
    proposal = services.exception_propose(
        user=analyst,
        kind="false_positive",
        reason="The check misreads this volume.",
        finding_ids=[finding.pk],
    )
    services.exception_approve(user=admin, exception_id=proposal.pk)


def test_review_keeps_state_set_by_exception(client, findings, analyst, admin_user):
    false_positive_approved(findings[0], analyst, admin_user)
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings, state="in_progress"), headers=HTMX)
    assert "4 change state to In progress; 1 keeps the state its exception sets" in text(response)


def test_confirm_leaves_exception_state(client, findings, analyst, admin_user):
    false_positive_approved(findings[0], analyst, admin_user)
    client.force_login(analyst)
    client.post(BULK_URL, {**triage_data(findings, state="in_progress"), "confirm": "1"}, headers=HTMX)
    findings[0].refresh_from_db()
    assert findings[0].triage_state == Finding.TriageState.FALSE_POSITIVE


def test_review_only_excepted_changes_nothing(client, findings, analyst, admin_user):
    false_positive_approved(findings[0], analyst, admin_user)
    client.force_login(analyst)
    response = client.post(BULK_URL, triage_data(findings[:1], state="in_progress"), headers=HTMX)
    assert "nothing would change, because its state comes from an exception." in text(response)
    assert ">Confirm</button>" not in response.content.decode()
