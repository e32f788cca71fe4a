from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from posture.models import Finding, FindingEvent
from tests.factories import FindingEventFactory, FindingFactory, install_fake_checks
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

# The finding page needs 11 queries with 40 events in its timeline; a query per event would exceed this.
MAX_QUERIES = 12


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def finding():
    return FindingFactory()


@pytest.fixture
def proposal(finding, analyst):
    return services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Test data only.",
        expires_at=timezone.now() + dt.timedelta(days=30),
        finding_ids=[finding.pk],
    )


def in_days(days: int) -> str:
    return (timezone.now() + dt.timedelta(days=days)).date().isoformat()


def endpoints(finding: Finding, proposal: FindingException) -> dict[str, tuple[str, dict]]:
    """Return the URL and valid form data of each triage endpoint, by name."""
    return {
        "state": (reverse("posture:finding-state-set", args=[finding.pk]), {"state": "acknowledged"}),
        "assign": (reverse("posture:finding-assign", args=[finding.pk]), {"assignee": ""}),
        "comment": (reverse("posture:finding-comment", args=[finding.pk]), {"text": "Looking at it."}),
        "propose": (
            reverse("posture:exception-propose", args=[finding.pk]),
            {"kind": "risk_accepted", "reason": "Test data.", "expires_on": in_days(30)},
        ),
        "approve": (reverse("posture:exception-approve", args=[finding.pk, proposal.pk]), {}),
        "reject": (
            reverse("posture:exception-reject", args=[finding.pk, proposal.pk]),
            {"comment": "Not test data."},
        ),
    }


def snapshot(finding: Finding) -> tuple:
    """Return what any triage endpoint may change: the finding, its events and the exceptions."""
    finding.refresh_from_db()
    exceptions = list(FindingException.objects.order_by("pk").values_list("pk", "state", "reviewed_by_id"))
    return (
        finding.triage_state,
        finding.assignee_id,
        finding.exception_id,
        finding.events.count(),
        exceptions,
    )


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def history(client, finding: Finding) -> str:
    """Return the HTML of the finding page's history section."""
    content = client.get(reverse("posture:finding-detail", args=[finding.pk])).content.decode()
    return content.split("<h2>History</h2>", 1)[1]


@pytest.mark.parametrize("name", ["state", "assign", "comment", "propose", "approve", "reject"])
def test_anonymous_redirected_to_login(client, finding, proposal, name):
    url, data = endpoints(finding, proposal)[name]
    before = snapshot(finding)
    response = client.post(url, data)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert snapshot(finding) == before


@pytest.mark.parametrize("name", ["state", "assign", "comment", "propose", "approve", "reject"])
def test_viewer_forbidden(client, finding, proposal, viewer, name):
    url, data = endpoints(finding, proposal)[name]
    client.force_login(viewer)
    before = snapshot(finding)
    response = client.post(url, data)
    assert response.status_code == 403
    assert snapshot(finding) == before


def viewer_bodies(finding: Finding, proposal: FindingException, analyst) -> dict[str, tuple[str, dict]]:
    """Return the URL and a body a person might send to each triage and exception POST endpoint.

    Several bodies are invalid, so a view that read them before checking the role would redirect
    with their error message instead of returning 403.
    """

    def exception_url(name: str) -> str:
        return reverse(f"posture:{name}", args=[proposal.pk])

    return {
        "state": (reverse("posture:finding-state-set", args=[finding.pk]), {"state": "risk_accepted"}),
        "assign by name": (reverse("posture:finding-assign", args=[finding.pk]), {"assignee": "analyst"}),
        "assign by id": (reverse("posture:finding-assign", args=[finding.pk]), {"assignee": analyst.pk}),
        "comment": (reverse("posture:finding-comment", args=[finding.pk]), {"text": ""}),
        "propose": (
            reverse("posture:exception-propose", args=[finding.pk]),
            {"kind": "risk_accepted", "reason": "Test data.", "expires_on": "next week"},
        ),
        "approve": (reverse("posture:exception-approve", args=[finding.pk, proposal.pk]), {"comment": "ok"}),
        "reject": (reverse("posture:exception-reject", args=[finding.pk, proposal.pk]), {}),
        "exception approve": (exception_url("exception-detail-approve"), {"comment": "Fine."}),
        "exception reject": (exception_url("exception-detail-reject"), {"comment": ""}),
        "exception disable": (exception_url("exception-disable"), {"comment": "Audit."}),
        "exception enable": (exception_url("exception-enable"), {}),
        "exception delete": (exception_url("exception-delete"), {}),
        "rule": (
            reverse("posture:exception-new"),
            {"kind": "false_positive", "reason": "Misread.", "check_id": "no_such_check"},
        ),
        "rule preview": (reverse("posture:exception-new"), {"preview": "1", "region": "mars-1"}),
    }


VIEWER_BODIES = [
    "state",
    "assign by name",
    "assign by id",
    "comment",
    "propose",
    "approve",
    "reject",
    "exception approve",
    "exception reject",
    "exception disable",
    "exception enable",
    "exception delete",
    "rule",
    "rule preview",
]


@pytest.mark.parametrize("name", VIEWER_BODIES)
def test_viewer_forbidden_whatever_body(client, finding, proposal, analyst, viewer, name):
    url, data = viewer_bodies(finding, proposal, analyst)[name]
    client.force_login(viewer)
    before = snapshot(finding)
    response = client.post(url, data)
    assert response.status_code == 403
    assert snapshot(finding) == before


@pytest.mark.parametrize("name", ["state", "assign", "comment", "propose", "approve", "reject"])
def test_get_not_allowed(client, finding, proposal, analyst, name):
    url, _ = endpoints(finding, proposal)[name]
    client.force_login(analyst)
    assert client.get(url).status_code == 405


def test_unknown_finding_404(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:finding-comment", args=[999_999]), {"text": "x"})
    assert response.status_code == 404


def test_analyst_sets_state(client, finding, analyst):
    client.force_login(analyst)
    url = reverse("posture:finding-state-set", args=[finding.pk])
    response = client.post(url, {"state": "in_progress", "comment": "On it."})
    finding.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("posture:finding-detail", args=[finding.pk])
    assert finding.triage_state == "in_progress"
    assert finding.events.get(kind=FindingEvent.Kind.STATE_CHANGED).comment == "On it."
    assert message_texts(response) == ["Triage state set to In progress."]


def test_state_from_exception_rejected(client, finding, analyst):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(
        reverse("posture:finding-state-set", args=[finding.pk]), {"state": "risk_accepted"}
    )
    assert response.status_code == 302
    assert "'risk_accepted'" in message_texts(response)[0]
    assert snapshot(finding) == before


def test_analyst_assigns(client, finding, analyst):
    client.force_login(analyst)
    client.post(reverse("posture:finding-assign", args=[finding.pk]), {"assignee": analyst.pk})
    finding.refresh_from_db()
    assert finding.assignee == analyst


def test_analyst_unassigns(client, finding, analyst):
    finding.assignee = analyst
    finding.save()
    client.force_login(analyst)
    client.post(reverse("posture:finding-assign", args=[finding.pk]), {"assignee": ""})
    finding.refresh_from_db()
    assert finding.assignee is None


@pytest.mark.parametrize("value", ["abc", "999999"])
def test_assign_unknown_user_rejected(client, finding, analyst, value):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(reverse("posture:finding-assign", args=[finding.pk]), {"assignee": value})
    assert repr(value) in message_texts(response)[0]
    assert snapshot(finding) == before


def test_assign_viewer_rejected(client, finding, analyst, viewer):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(reverse("posture:finding-assign", args=[finding.pk]), {"assignee": viewer.pk})
    assert "viewer cannot be assigned" in message_texts(response)[0]
    assert snapshot(finding) == before


def test_analyst_comments(client, finding, analyst):
    client.force_login(analyst)
    client.post(reverse("posture:finding-comment", args=[finding.pk]), {"text": "Asked the owner."})
    assert finding.events.get(kind=FindingEvent.Kind.COMMENTED).comment == "Asked the owner."


def test_empty_comment_rejected(client, finding, analyst):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(reverse("posture:finding-comment", args=[finding.pk]), {"text": "  "})
    assert "comment is empty" in message_texts(response)[0]
    assert snapshot(finding) == before


def test_analyst_proposes_exception(client, finding, analyst):
    client.force_login(analyst)
    response = client.post(
        reverse("posture:exception-propose", args=[finding.pk]),
        {"kind": "risk_accepted", "reason": "Test data.", "expires_on": in_days(30)},
    )
    exception = FindingException.objects.get()
    assert exception.state == FindingException.State.PROPOSED
    assert list(exception.findings.all()) == [finding]
    assert exception.created_by == analyst
    assert message_texts(response) == [
        f"Exception {exception.pk} proposed. It covers the finding once an admin other than you approves it."
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"reason": "", "expires_on": in_days(30)}, "reason is empty"),
        ({"reason": "Test data.", "expires_on": in_days(-1)}, "is not in the future"),
        ({"reason": "Test data.", "expires_on": in_days(400)}, "more than 365 days ahead"),
        ({"reason": "Test data.", "expires_on": ""}, "needs an expiry"),
        ({"reason": "Test data.", "expires_on": "next week"}, "'next week' is not a valid date"),
    ],
)
def test_bad_proposal_rejected(client, finding, analyst, data, expected):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(
        reverse("posture:exception-propose", args=[finding.pk]), {"kind": "risk_accepted", **data}
    )
    assert response.status_code == 302
    assert expected in message_texts(response)[0]
    assert snapshot(finding) == before


def test_creator_cannot_approve_own(client, finding, admin_user):
    proposal = services.exception_propose(
        user=admin_user,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads this volume.",
        finding_ids=[finding.pk],
    )
    client.force_login(admin_user)
    before = snapshot(finding)
    response = client.post(reverse("posture:exception-approve", args=[finding.pk, proposal.pk]))
    assert response.status_code == 403
    assert snapshot(finding) == before


def test_analyst_cannot_approve(client, finding, proposal, analyst):
    client.force_login(analyst)
    before = snapshot(finding)
    response = client.post(reverse("posture:exception-approve", args=[finding.pk, proposal.pk]))
    assert response.status_code == 403
    assert snapshot(finding) == before


def test_admin_approves(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("posture:exception-approve", args=[finding.pk, proposal.pk]))
    proposal.refresh_from_db()
    finding.refresh_from_db()
    assert message_texts(response) == [
        f"Exception {proposal.pk} approved. The headline score counts it from the next scan."
    ]
    assert proposal.state == FindingException.State.APPROVED
    assert proposal.reviewed_by == admin_user
    assert finding.exception == proposal
    assert finding.triage_state == Finding.TriageState.RISK_ACCEPTED


def test_admin_rejects(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    client.post(
        reverse("posture:exception-reject", args=[finding.pk, proposal.pk]), {"comment": "Not test data."}
    )
    proposal.refresh_from_db()
    assert proposal.state == FindingException.State.REJECTED


def test_reject_without_comment_rejected(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    before = snapshot(finding)
    response = client.post(reverse("posture:exception-reject", args=[finding.pk, proposal.pk]), {})
    assert "Say why" in message_texts(response)[0]
    assert snapshot(finding) == before


def test_approve_twice_shows_state(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    url = reverse("posture:exception-approve", args=[finding.pk, proposal.pk])
    client.post(url)
    response = client.post(url)
    # The first response was not followed, so its message is still stored ahead of this one.
    assert "is approved" in message_texts(response)[-1]


def test_page_shows_triage_card(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("posture:finding-detail", args=[finding.pk]))
    content = response.content.decode()
    assert 'id="triage"' in content
    assert reverse("posture:finding-state-set", args=[finding.pk]) in content
    assert reverse("posture:exception-approve", args=[finding.pk, proposal.pk]) in content


def test_viewer_sees_no_triage_forms(client, finding, proposal, viewer):
    client.force_login(viewer)
    response = client.get(reverse("posture:finding-detail", args=[finding.pk]))
    content = response.content.decode()
    assert 'id="triage"' in content
    assert reverse("posture:finding-state-set", args=[finding.pk]) not in content
    assert reverse("posture:exception-approve", args=[finding.pk, proposal.pk]) not in content


def test_creator_sees_no_approve_button(client, finding, admin_user):
    proposal = services.exception_propose(
        user=admin_user,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads this volume.",
        finding_ids=[finding.pk],
    )
    client.force_login(admin_user)
    response = client.get(reverse("posture:finding-detail", args=[finding.pk]))
    assert (
        reverse("posture:exception-approve", args=[finding.pk, proposal.pk]) not in response.content.decode()
    )


def test_page_shows_covering_exception(client, finding, proposal, admin_user):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    client.force_login(admin_user)
    response = client.get(reverse("posture:finding-detail", args=[finding.pk]))
    content = response.content.decode()
    assert "Risk accepted, approved, expires" in content
    assert "Test data only." in content


def test_timeline_shows_change(client, finding, analyst):
    services.finding_state_set(user=analyst, finding_id=finding.pk, state="in_progress", comment="Seen.")
    client.force_login(analyst)
    content = history(client, finding)
    assert "Triage state: Open → In progress" in content
    assert "triage_state" not in content
    assert "by analyst" in content
    assert "Seen." in content


def test_timeline_labels_assignee(client, finding, analyst):
    services.finding_assign(user=analyst, finding_id=finding.pk, assignee=analyst)
    client.force_login(analyst)
    assert "Assignee: unassigned → analyst" in history(client, finding)


def test_timeline_labels_status(client, finding, analyst):
    FindingEventFactory(
        finding=finding, kind=FindingEvent.Kind.OPENED, field="status", new_status="FAIL", new_value="FAIL"
    )
    client.force_login(analyst)
    content = history(client, finding)
    assert "Status: — → Fail" in content
    assert "FAIL" not in content


def test_timeline_links_exception(client, finding, proposal, admin_user):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    client.force_login(admin_user)
    content = history(client, finding)
    link = reverse("posture:exception-detail", args=[proposal.pk])
    assert f'Exception: none → <a href="{link}">exception {proposal.pk}</a>' in content


def test_timeline_deleted_exception_unlinked(client, finding, proposal, admin_user):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    services.exception_delete(user=admin_user, exception_id=proposal.pk)
    client.force_login(admin_user)
    content = history(client, finding)
    assert f"Exception: none → exception {proposal.pk}<" in content
    assert f"Exception: exception {proposal.pk} → none" in content
    assert reverse("posture:exception-detail", args=[proposal.pk]) not in content


def test_page_links_finding_stylesheet(client, finding, analyst):
    client.force_login(analyst)
    content = client.get(reverse("posture:finding-detail", args=[finding.pk])).content.decode()
    assert "css/finding" in content
    assert 'class="triage-panel"' in content


def test_page_queries_bounded(client, finding, proposal, analyst, admin_user, django_assert_max_num_queries):
    for n in range(20):
        services.finding_comment(user=analyst if n % 2 else admin_user, finding_id=finding.pk, text=f"c{n}")
        FindingEventFactory(finding=finding)
    client.force_login(admin_user)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("posture:finding-detail", args=[finding.pk]))
    assert response.content.decode().count("<li>") >= 40


def test_exception_list_shows_exceptions(client, finding, proposal, viewer):
    client.force_login(viewer)
    response = client.get(reverse("posture:exception-list"))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Test data only." in content
    assert "analyst" in content


def test_exception_list_shows_expiring(client, finding, proposal, admin_user):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    client.force_login(admin_user)
    response = client.get(reverse("posture:exception-list"))
    assert list(response.context["expiring"]) == [proposal]


def test_exception_list_leaves_out_later_expiry(client, finding, analyst, admin_user):
    later = services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Later.",
        expires_at=timezone.now() + dt.timedelta(days=90),
        finding_ids=[finding.pk],
    )
    services.exception_approve(user=admin_user, exception_id=later.pk)
    client.force_login(admin_user)
    response = client.get(reverse("posture:exception-list"))
    assert list(response.context["expiring"]) == []


def test_exception_list_anonymous_redirected(client):
    response = client.get(reverse("posture:exception-list"))
    assert response.status_code == 302


def test_findings_list_links_exceptions(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("posture:finding-list"))
    assert reverse("posture:exception-list") in response.content.decode()


def test_finding_page_links_its_exception(client, finding, proposal, admin_user):
    client.force_login(admin_user)
    client.post(reverse("posture:exception-approve", args=[finding.pk, proposal.pk]))
    html = client.get(finding.get_absolute_url()).content.decode()
    assert reverse("posture:exception-detail", args=[proposal.pk]) in html


def test_finding_page_hides_state_form_under_exception(client, finding, proposal, admin_user, analyst):
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    client.force_login(analyst)
    html = client.get(finding.get_absolute_url()).content.decode()
    assert "The state comes from" in html
    assert reverse("posture:finding-state-set", args=[finding.pk]) not in html
