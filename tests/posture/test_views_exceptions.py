from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMIN, ANALYST
from posture.checks.base import Status
from posture.models import Finding, FindingEvent
from tests.factories import AccountFactory, FindingFactory, UserFactory, install_fake_checks
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

CHECK = "fake_monitoring_trail"
ACCOUNT_ID = "111111111111"
ARN_PREFIX = f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:volume/"


@pytest.fixture(autouse=True)
def fake_checks(monkeypatch):
    return install_fake_checks(monkeypatch)


@pytest.fixture
def admin2():
    return UserFactory(username="admin2", roles=[ADMIN])


@pytest.fixture
def account():
    return AccountFactory(account_id=ACCOUNT_ID, name="production")


@pytest.fixture
def findings(account):
    """Two failing test volumes, one failing production volume and one passing test volume."""
    return {
        "test-1": FindingFactory(account=account, resource_id=f"{ARN_PREFIX}test-1"),
        "test-2": FindingFactory(account=account, resource_id=f"{ARN_PREFIX}test-2"),
        "prod-1": FindingFactory(account=account, resource_id=f"{ARN_PREFIX}prod-1"),
        "test-ok": FindingFactory(account=account, resource_id=f"{ARN_PREFIX}test-ok", status=Status.PASS),
    }


def expiry(days: int = 30) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def in_days(days: int) -> str:
    return (timezone.now() + dt.timedelta(days=days)).date().isoformat()


@pytest.fixture
def rule(findings, analyst):
    """A proposed accepted-risk rule over the test volumes."""
    return services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.RISK_ACCEPTED,
        reason="Test volumes hold no data.",
        expires_at=expiry(),
        check_id=CHECK,
        resource_pattern=f"{ARN_PREFIX}test-*",
    )


@pytest.fixture
def approved_rule(rule, admin2):
    return services.exception_approve(user=admin2, exception_id=rule.pk)


def url(name: str, exception: FindingException | int) -> str:
    pk = exception if isinstance(exception, int) else exception.pk
    return reverse(f"posture:{name}", args=[pk])


# The POST endpoints on one exception, with valid form data.
ACTIONS = {
    "exception-detail-approve": {"comment": "Fine for test data."},
    "exception-detail-reject": {"comment": "Name the volumes."},
    "exception-disable": {},
    "exception-enable": {},
    "exception-delete": {},
}


def snapshot() -> tuple:
    """Return what any exception endpoint may change: exceptions, coverage and events."""
    exceptions = list(
        FindingException.objects.order_by("pk").values_list("pk", "state", "enabled", "reviewed_by_id")
    )
    coverage = list(Finding.objects.order_by("pk").values_list("pk", "exception_id", "triage_state"))
    return exceptions, coverage, FindingEvent.objects.count()


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def triage_states(findings: dict[str, Finding]) -> dict[str, str]:
    return {name: Finding.objects.get(pk=finding.pk).triage_state for name, finding in findings.items()}


# Anonymous users.
@pytest.mark.parametrize("name", [*ACTIONS, "exception-detail"])
def test_anonymous_get_redirected_to_login(client, rule, name):
    response = client.get(url(name, rule))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("name", ACTIONS)
def test_anonymous_post_redirected_to_login(client, rule, name):
    before = snapshot()
    response = client.post(url(name, rule), ACTIONS[name])
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_new_redirected_to_login(client, method):
    response = getattr(client, method)(reverse("posture:exception-new"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_user_without_role_forbidden(client, rule):
    client.force_login(UserFactory(username="outsider"))
    assert client.get(url("exception-detail", rule)).status_code == 403


# Viewers read and change nothing.
def test_viewer_reads_detail(client, rule, viewer):
    client.force_login(viewer)
    response = client.get(url("exception-detail", rule))
    content = response.content.decode()
    assert response.status_code == 200
    assert "Test volumes hold no data." in content
    assert 'id="actions"' not in content


@pytest.mark.parametrize("name", ACTIONS)
def test_viewer_post_forbidden(client, rule, viewer, name):
    client.force_login(viewer)
    before = snapshot()
    response = client.post(url(name, rule), ACTIONS[name])
    assert response.status_code == 403
    assert snapshot() == before


def test_viewer_delete_confirmation_forbidden(client, rule, viewer):
    client.force_login(viewer)
    assert client.get(url("exception-delete", rule)).status_code == 403


@pytest.mark.parametrize("method", ["get", "post"])
def test_viewer_cannot_propose(client, viewer, method):
    client.force_login(viewer)
    before = snapshot()
    response = getattr(client, method)(reverse("posture:exception-new"), {"kind": "false_positive"})
    assert response.status_code == 403
    assert "analyst or admin role" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("name", ["exception-detail-approve", "exception-detail-reject", "exception-enable"])
def test_get_not_allowed(client, rule, admin2, name):
    client.force_login(admin2)
    assert client.get(url(name, rule)).status_code == 405


# Analysts propose and withdraw their own proposals, but review nothing.
@pytest.mark.parametrize(
    "name", ["exception-detail-approve", "exception-detail-reject", "exception-disable", "exception-enable"]
)
def test_analyst_cannot_review(client, rule, analyst, name):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(url(name, rule), ACTIONS[name])
    assert response.status_code == 403
    assert snapshot() == before


def test_analyst_sees_no_review_buttons(client, rule, analyst):
    client.force_login(analyst)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert url("exception-detail-approve", rule) not in content
    assert url("exception-disable", rule) not in content


def test_analyst_withdraws_own_proposal(client, rule, analyst):
    client.force_login(analyst)
    confirmation = client.get(url("exception-delete", rule))
    response = client.post(url("exception-delete", rule))
    assert confirmation.status_code == 200
    assert response.status_code == 302
    assert response["Location"] == reverse("posture:exception-list")
    assert message_texts(response) == [f"Exception {rule.pk} withdrawn."]
    assert not FindingException.objects.filter(pk=rule.pk).exists()


def test_withdraw_link_named_withdraw(client, rule, analyst):
    client.force_login(analyst)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert f"Withdraw exception {rule.pk}…" in content


def test_withdraw_confirmation_wording(client, rule, analyst):
    client.force_login(analyst)
    content = client.get(url("exception-delete", rule)).content.decode()
    assert f"<h2>Withdraw exception {rule.pk}?</h2>" in content
    assert f">Withdraw exception {rule.pk}</button>" in content
    assert "Delete exception" not in content
    assert "disable it instead" not in content


def test_analyst_cannot_delete_approved(client, approved_rule, analyst):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(url("exception-delete", approved_rule))
    assert response.status_code == 403
    assert snapshot() == before


def test_analyst_cannot_delete_others_proposal(client, rule):
    client.force_login(UserFactory(username="analyst2", roles=[ANALYST]))
    before = snapshot()
    assert client.get(url("exception-delete", rule)).status_code == 403
    assert client.post(url("exception-delete", rule)).status_code == 403
    assert snapshot() == before


# The proposer, as an admin, cannot review their own proposal.
def test_proposer_cannot_approve_own(client, findings, admin_user):
    own = services.exception_propose(
        user=admin_user,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads test volumes.",
        check_id=CHECK,
    )
    client.force_login(admin_user)
    before = snapshot()
    response = client.post(url("exception-detail-approve", own))
    assert response.status_code == 403
    assert "another admin must review it" in response.content.decode()
    assert snapshot() == before


def test_admin_withdraws_own_proposal(client, findings, admin_user):
    own = services.exception_propose(
        user=admin_user,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads test volumes.",
        check_id=CHECK,
    )
    client.force_login(admin_user)
    content = client.get(url("exception-delete", own)).content.decode()
    assert f"<h2>Withdraw exception {own.pk}?</h2>" in content


def test_proposer_sees_why_no_review(client, findings, admin_user):
    own = services.exception_propose(
        user=admin_user,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="The check misreads test volumes.",
        check_id=CHECK,
    )
    client.force_login(admin_user)
    content = client.get(url("exception-detail", own)).content.decode()
    assert url("exception-detail-approve", own) not in content
    assert "another admin must approve or reject it" in content


# Another admin reviews, switches and deletes.
def test_admin_approves_rule(client, findings, rule, admin2):
    client.force_login(admin2)
    response = client.post(url("exception-detail-approve", rule), {"comment": "Fine for test data."})
    rule.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == url("exception-detail", rule)
    assert message_texts(response) == [
        f"Exception {rule.pk} approved. It covers 3 findings now. The headline score counts it from "
        "the next scan."
    ]
    assert rule.state == FindingException.State.APPROVED
    assert rule.reviewed_by == admin2
    assert rule.review_comment == "Fine for test data."


def test_approve_covers_matching_findings(client, findings, rule, admin2):
    client.force_login(admin2)
    client.post(url("exception-detail-approve", rule))
    assert triage_states(findings) == {
        "test-1": Finding.TriageState.RISK_ACCEPTED,
        "test-2": Finding.TriageState.RISK_ACCEPTED,
        "prod-1": Finding.TriageState.OPEN,
        "test-ok": Finding.TriageState.OPEN,
    }


def test_approve_writes_events(client, findings, rule, admin2):
    client.force_login(admin2)
    client.post(url("exception-detail-approve", rule))
    applied = FindingEvent.objects.filter(kind=FindingEvent.Kind.EXCEPTION_APPLIED, actor=admin2)
    assert applied.count() == 3


def test_admin_rejects_rule(client, rule, admin2):
    client.force_login(admin2)
    response = client.post(url("exception-detail-reject", rule), {"comment": "Name the volumes."})
    rule.refresh_from_db()
    assert message_texts(response) == [f"Exception {rule.pk} rejected."]
    assert rule.state == FindingException.State.REJECTED
    assert rule.review_comment == "Name the volumes."


def test_reject_without_comment_rejected(client, rule, admin2):
    client.force_login(admin2)
    before = snapshot()
    response = client.post(url("exception-detail-reject", rule), {"comment": " "})
    assert response["Location"] == url("exception-detail", rule)
    assert "Say why" in message_texts(response)[0]
    assert snapshot() == before


def test_approve_twice_names_state(client, approved_rule, admin_user):
    client.force_login(admin_user)
    before = snapshot()
    response = client.post(url("exception-detail-approve", approved_rule))
    assert "is approved; only a proposed exception can be reviewed" in message_texts(response)[0]
    assert snapshot() == before


def test_admin_disables_rule(client, findings, approved_rule, admin_user):
    client.force_login(admin_user)
    response = client.post(url("exception-disable", approved_rule), {"comment": "Audit next week."})
    approved_rule.refresh_from_db()
    assert message_texts(response)[0].startswith(f"Exception {approved_rule.pk} disabled.")
    assert approved_rule.enabled is False


def test_disable_restores_findings(client, findings, approved_rule, admin_user):
    client.force_login(admin_user)
    client.post(url("exception-disable", approved_rule), {"comment": "Audit next week."})
    assert set(triage_states(findings).values()) == {Finding.TriageState.OPEN}
    assert not Finding.objects.filter(exception=approved_rule).exists()


def test_disable_writes_events(client, findings, approved_rule, admin_user):
    client.force_login(admin_user)
    client.post(url("exception-disable", approved_rule), {"comment": "Audit next week."})
    removed = FindingEvent.objects.filter(kind=FindingEvent.Kind.EXCEPTION_REMOVED, actor=admin_user)
    assert removed.count() == 3
    assert "Audit next week." in removed.first().comment


def test_disable_twice_reports_it(client, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    before = snapshot()
    response = client.post(url("exception-disable", approved_rule))
    assert message_texts(response) == [f"Exception {approved_rule.pk} was already disabled."]
    assert snapshot() == before


def test_admin_enables_rule(client, findings, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    response = client.post(url("exception-enable", approved_rule))
    approved_rule.refresh_from_db()
    assert message_texts(response) == [
        f"Exception {approved_rule.pk} enabled. It covers 3 findings now. The headline score counts it "
        "from the next scan."
    ]
    assert approved_rule.enabled is True
    assert triage_states(findings)["test-1"] == Finding.TriageState.RISK_ACCEPTED


def test_enable_proposed_rejected(client, findings, rule, admin_user):
    # A proposal switched off before the services refused it may still exist in a database.
    FindingException.objects.filter(pk=rule.pk).update(enabled=False)
    client.force_login(admin_user)
    before = snapshot()
    response = client.post(url("exception-enable", rule))
    assert message_texts(response) == [
        f"Exception {rule.pk} is proposed, so it covers no finding. Only an approved exception can be "
        "enabled."
    ]
    assert snapshot() == before


@pytest.mark.parametrize("state", ["proposed", "rejected", "expired"])
def test_disable_unapproved_rejected(client, findings, rule, admin_user, state):
    FindingException.objects.filter(pk=rule.pk).update(state=state)
    client.force_login(admin_user)
    before = snapshot()
    response = client.post(url("exception-disable", rule))
    assert response["Location"] == url("exception-detail", rule)
    assert f"Exception {rule.pk} is {state}, so it covers no finding." in message_texts(response)[0]
    assert snapshot() == before


def test_enable_past_expiry_says_so(client, findings, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    FindingException.objects.filter(pk=approved_rule.pk).update(
        expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    client.force_login(admin_user)
    response = client.post(url("exception-enable", approved_rule))
    assert "but it expired at" in message_texts(response)[0]
    assert not Finding.objects.filter(exception=approved_rule).exists()


def test_delete_confirmation_counts_findings(client, approved_rule, admin_user):
    client.force_login(admin_user)
    response = client.get(url("exception-delete", approved_rule))
    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="confirm-delete"' in content
    assert "It covers 3 findings now, 2 of them failing." in content
    assert f">Delete exception {approved_rule.pk}</button>" in content


def test_delete_confirmation_hints_disable(client, approved_rule, admin_user):
    client.force_login(admin_user)
    content = client.get(url("exception-delete", approved_rule)).content.decode()
    assert "To switch it off for a while, disable it instead." in content


def test_delete_disabled_gives_no_disable_hint(client, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    content = client.get(url("exception-delete", approved_rule)).content.decode()
    assert "It covers no finding now, so deleting it changes no finding." in content
    assert "disable it instead" not in content


def test_delete_others_proposal_named_delete(client, rule, admin2):
    client.force_login(admin2)
    content = client.get(url("exception-delete", rule)).content.decode()
    assert f"<h2>Delete exception {rule.pk}?</h2>" in content
    assert "disable it instead" not in content


def test_delete_confirmation_writes_nothing(client, approved_rule, admin_user):
    client.force_login(admin_user)
    before = snapshot()
    client.get(url("exception-delete", approved_rule))
    assert snapshot() == before


def test_admin_deletes_rule(client, findings, approved_rule, admin_user):
    client.force_login(admin_user)
    pk = approved_rule.pk
    response = client.post(url("exception-delete", approved_rule))
    assert response["Location"] == reverse("posture:exception-list")
    assert message_texts(response) == [f"Exception {pk} deleted. 3 findings changed state or exception."]
    assert not FindingException.objects.filter(pk=pk).exists()


def test_delete_restores_findings(client, findings, approved_rule, admin_user):
    client.force_login(admin_user)
    client.post(url("exception-delete", approved_rule))
    assert set(triage_states(findings).values()) == {Finding.TriageState.OPEN}
    removed = FindingEvent.objects.filter(kind=FindingEvent.Kind.EXCEPTION_REMOVED, actor=admin_user)
    assert removed.count() == 3


@pytest.mark.parametrize("name", [*ACTIONS, "exception-detail"])
def test_unknown_exception_404(client, admin_user, name):
    client.force_login(admin_user)
    method = client.get if name == "exception-detail" else client.post
    assert method(url(name, 999_999), ACTIONS.get(name, {})).status_code == 404


# The detail page.
def test_detail_shows_rule(client, rule, admin2):
    client.force_login(admin2)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert f"{ARN_PREFIX}test-*" in content
    assert "by analyst" in content
    assert "expires in 4\xa0weeks" in content
    assert "would match 3 current findings, 2 of them failing" in content


def test_detail_shows_review_buttons(client, rule, admin2):
    client.force_login(admin2)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert url("exception-detail-approve", rule) in content
    assert url("exception-detail-reject", rule) in content
    assert url("exception-delete", rule) in content


@pytest.mark.parametrize("state", ["proposed", "rejected", "expired"])
@pytest.mark.parametrize("enabled", [True, False])
def test_detail_offers_no_switch_unless_approved(client, rule, admin2, state, enabled):
    FindingException.objects.filter(pk=rule.pk).update(state=state, enabled=enabled)
    client.force_login(admin2)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert url("exception-disable", rule) not in content
    assert url("exception-enable", rule) not in content


def test_detail_offers_disable_when_enabled(client, approved_rule, admin_user):
    client.force_login(admin_user)
    content = client.get(url("exception-detail", approved_rule)).content.decode()
    assert f"Disable exception {approved_rule.pk}" in content
    assert f"Enable exception {approved_rule.pk}" not in content


def test_detail_offers_enable_when_disabled(client, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    content = client.get(url("exception-detail", approved_rule)).content.decode()
    assert f"Enable exception {approved_rule.pk}" in content
    assert f"Disable exception {approved_rule.pk}" not in content


def test_detail_shows_review(client, approved_rule, admin_user):
    client.force_login(admin_user)
    response = client.get(url("exception-detail", approved_rule))
    content = response.content.decode()
    assert "by admin2" in content
    assert response.context["coverage"].covered == 3


def test_detail_counts_failing_covered(client, approved_rule, admin_user):
    client.force_login(admin_user)
    content = client.get(url("exception-detail", approved_rule)).content.decode()
    assert "3 findings, 2 of them failing" in content


def test_detail_heading_uses_kind_label(client, rule, viewer):
    client.force_login(viewer)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert f"<h1>Exception {rule.pk}: Risk accepted</h1>" in content


def test_detail_rejected_state_plain(client, rule, admin2):
    services.exception_reject(user=admin2, exception_id=rule.pk, comment="Name the volumes.")
    client.force_login(admin2)
    content = client.get(url("exception-detail", rule)).content.decode()
    assert ">Rejected</span>" in content
    assert "<dt>Enabled</dt>" not in content


def test_detail_disabled_names_review_state(client, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    content = client.get(url("exception-detail", approved_rule)).content.decode()
    assert ">Disabled</span>" in content
    assert "review state: approved" in content


def test_detail_listed_findings_scroll(client, account, analyst):
    exception = services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="Misread.",
        finding_ids=[FindingFactory(account=account).pk],
    )
    client.force_login(analyst)
    content = client.get(url("exception-detail", exception)).content.decode()
    assert '<div class="table-wrap">' in content


def test_detail_says_expired(client, approved_rule, admin_user):
    FindingException.objects.filter(pk=approved_rule.pk).update(
        expires_at=timezone.now() - dt.timedelta(hours=1)
    )
    client.force_login(admin_user)
    content = client.get(url("exception-detail", approved_rule)).content.decode()
    assert "(expired)" in content


def test_detail_lists_findings_capped(client, account, analyst, monkeypatch):
    monkeypatch.setattr("posture.views.exceptions.LISTED_FINDINGS_SHOWN", 2)
    listed = [FindingFactory(account=account) for _ in range(3)]
    exception = services.exception_propose(
        user=analyst,
        kind=FindingException.Kind.FALSE_POSITIVE,
        reason="Misread.",
        finding_ids=[finding.pk for finding in listed],
    )
    client.force_login(analyst)
    response = client.get(url("exception-detail", exception))
    content = response.content.decode()
    assert len(response.context["listed_findings"]) == 2
    assert "It lists 3 findings; the first 2 are shown" in content
    assert "and 1 more." in content
    assert reverse("posture:finding-detail", args=[listed[0].pk]) in content


# The exceptions list.
def test_list_links_detail_and_form(client, rule, analyst):
    client.force_login(analyst)
    content = client.get(reverse("posture:exception-list")).content.decode()
    assert url("exception-detail", rule) in content
    assert reverse("posture:exception-new") in content


def test_list_shows_state_label(client, rule, viewer):
    client.force_login(viewer)
    content = client.get(reverse("posture:exception-list")).content.decode()
    assert "<td>Proposed</td>" in content


def test_list_shows_disabled_label(client, approved_rule, admin_user):
    services.exception_disable(user=admin_user, exception_id=approved_rule.pk)
    client.force_login(admin_user)
    content = client.get(reverse("posture:exception-list")).content.decode()
    assert "<td>Disabled</td>" in content


def test_list_tables_scroll_inside_card(client, approved_rule, viewer):
    client.force_login(viewer)
    content = client.get(reverse("posture:exception-list")).content.decode()
    # One for the expiring exceptions and one for all of them.
    assert content.count('<div class="table-wrap">') == 2


def test_list_hides_form_link_from_viewer(client, rule, viewer):
    client.force_login(viewer)
    content = client.get(reverse("posture:exception-list")).content.decode()
    assert reverse("posture:exception-new") not in content


def test_list_awaiting_my_review(client, findings, rule, admin_user, admin2):
    own = services.exception_propose(
        user=admin2, kind=FindingException.Kind.FALSE_POSITIVE, reason="Misread.", check_id=CHECK
    )
    client.force_login(admin2)
    response = client.get(reverse("posture:exception-list"), {"state": "awaiting_review"})
    assert list(response.context["page"].object_list) == [rule]
    assert own not in response.context["page"].object_list
    assert "1 exception waits for your review" in response.content.decode()


def test_list_filters_state_and_kind(client, approved_rule, analyst, viewer):
    rejected_kind = services.exception_propose(
        user=analyst, kind=FindingException.Kind.FALSE_POSITIVE, reason="Misread.", check_id=CHECK
    )
    client.force_login(viewer)
    by_state = client.get(reverse("posture:exception-list"), {"state": "approved"})
    by_kind = client.get(reverse("posture:exception-list"), {"kind": "false_positive"})
    assert list(by_state.context["page"].object_list) == [approved_rule]
    assert list(by_kind.context["page"].object_list) == [rejected_kind]


def test_list_ignores_unknown_filter(client, rule, viewer):
    client.force_login(viewer)
    response = client.get(reverse("posture:exception-list"), {"state": "awaiting_review"})
    assert list(response.context["page"].object_list) == [rule]
    assert "'awaiting_review' is not a known exception state" in response.context["ignored"][0]
    assert "is not a known exception state" in response.content.decode()


# Proposing a rule.
def rule_data(**overrides) -> dict[str, str]:
    data = {
        "kind": "risk_accepted",
        "reason": "Test volumes hold no data.",
        "expires_on": in_days(30),
        "check_id": CHECK,
        "account_id": ACCOUNT_ID,
        "region": "us-east-1",
        "resource_pattern": f"{ARN_PREFIX}test-*",
        "tags": "",
    }
    data.update(overrides)
    return data


def test_analyst_gets_form(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("posture:exception-new"))
    assert response.status_code == 200
    assert 'name="resource_pattern"' in response.content.decode()


def test_analyst_proposes_rule(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(tags="Environment=test\nOwner = qa"))
    exception = FindingException.objects.get()
    assert response["Location"] == url("exception-detail", exception)
    assert exception.scope == FindingException.Scope.RULE
    assert exception.state == FindingException.State.PROPOSED
    assert exception.created_by == analyst
    assert exception.tags == {"Environment": "test", "Owner": "qa"}
    assert exception.expires_at.date().isoformat() == in_days(30)


def test_proposed_rule_message_names_other_admin(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data())
    exception = FindingException.objects.get()
    assert message_texts(response) == [
        f"Exception {exception.pk} proposed. It covers the findings it matches once an admin other "
        "than you approves it."
    ]


def test_rule_form_labels_without_colon(client, analyst):
    client.force_login(analyst)
    content = client.get(reverse("posture:exception-new")).content.decode()
    assert '<label for="id_kind">Kind</label>' in content
    assert "Kind:" not in content


def test_proposed_rule_covers_nothing_yet(client, findings, analyst):
    client.force_login(analyst)
    client.post(reverse("posture:exception-new"), rule_data())
    assert not Finding.objects.filter(exception__isnull=False).exists()


def test_admin_proposes_rule(client, findings, admin_user):
    client.force_login(admin_user)
    client.post(reverse("posture:exception-new"), rule_data(kind="false_positive", expires_on=""))
    assert FindingException.objects.get().created_by == admin_user


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"reason": "  "}, "reason", "The reason is empty"),
        ({"expires_on": in_days(-1)}, "expires_on", "is not in the future"),
        ({"expires_on": in_days(400)}, "expires_on", "more than 365 days ahead"),
        ({"expires_on": ""}, "expires_on", "An accepted risk needs an expiry"),
        ({"expires_on": "next week"}, "expires_on", "'next week' is not a date"),
        ({"resource_pattern": "^arn:aws:.*$"}, "resource_pattern", "looks like a regular expression"),
        ({"resource_pattern": "arn:aws:ec2:[abc"}, "resource_pattern", "an unclosed ["),
        ({"tags": "Environment"}, "tags", "The tag 'Environment' is not key=value"),
        ({"check_id": "no_such_check"}, "check_id", "'no_such_check' is not a known check id"),
        ({"account_id": "12345"}, "account_id", "12345"),
        ({"region": "mars-1"}, "region", "Unknown region 'mars-1'"),
        ({"kind": "forever"}, "kind", "'forever' is not a known kind"),
    ],
)
def test_bad_rule_shows_error_next_to_field(client, findings, analyst, overrides, field, expected):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(reverse("posture:exception-new"), rule_data(**overrides))
    form = response.context["form"]
    assert response.status_code == 422
    assert expected in " ".join(form.errors[field])
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"check_id": "no_such_check"}, "is not a known check id"),
        ({"region": "mars-1"}, "Unknown region"),
        ({"resource_pattern": "arn:aws:ec2:[abc"}, "an unclosed ["),
    ],
)
def test_bad_rule_error_shown_once(client, findings, analyst, overrides, expected):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(**overrides))
    content = response.content.decode()
    assert content.count(expected) == 1
    assert "Fix the errors shown in the form" in content


def test_preview_page_shows_scope_error_once(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(preview="1", region="mars-1"))
    assert response.content.decode().count("Unknown region") == 1


def test_rule_without_scope_rejected(client, findings, analyst):
    client.force_login(analyst)
    before = snapshot()
    empty_scope = rule_data(check_id="", account_id="", region="", resource_pattern="", tags="")
    response = client.post(reverse("posture:exception-new"), empty_scope)
    assert response.status_code == 422
    assert "A rule needs at least one of" in " ".join(response.context["form"].non_field_errors())
    assert snapshot() == before


def test_bad_rule_keeps_every_error(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(reason="", region="mars-1"))
    assert set(response.context["form"].errors) == {"reason", "region"}


def test_bad_rule_error_rendered(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(region="mars-1"))
    assert "Unknown region &#x27;mars-1&#x27;" in response.content.decode()


# The preview of the matches.
def test_preview_counts_matches(client, findings, analyst):
    client.force_login(analyst)
    before = snapshot()
    response = client.post(reverse("posture:exception-new"), rule_data(preview="1"))
    matches = response.context["rule_matches"]
    assert matches.current == 3
    assert matches.failing == 2
    assert "This rule matches 3 current findings, 2 of them failing." in response.content.decode()
    assert snapshot() == before


def test_preview_ignores_reason_and_expiry(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(preview="1", reason="", expires_on=""))
    assert response.context["rule_matches"].current == 3
    assert not response.context["form"].errors


def test_preview_htmx_returns_partial(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(preview="1"), HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert content.strip().startswith('<div id="rule-preview"')
    assert "<form" not in content
    assert "matches 3 current findings" in content


def test_preview_names_scope_error(client, findings, analyst):
    client.force_login(analyst)
    response = client.post(
        reverse("posture:exception-new"), rule_data(preview="1", region="mars-1"), HTTP_HX_REQUEST="true"
    )
    content = response.content.decode()
    assert "Region: Unknown region" in content
    assert "This rule matches" not in content


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"check_id": CHECK}, 4),
        ({"resource_pattern": f"{ARN_PREFIX}TEST-*"}, 0),  # globs are case-sensitive
        ({"resource_pattern": "*prod-?"}, 1),
        ({"region": "eu-west-1"}, 0),
        ({"account_id": "222222222222"}, 0),
        ({"tags": "Environment=test"}, 1),
    ],
)
def test_preview_uses_rule_matching(client, findings, analyst, scope, expected):
    Finding.objects.filter(pk=findings["test-1"].pk).update(tags={"Environment": "test", "Owner": "qa"})
    data = rule_data(check_id="", account_id="", region="", resource_pattern="", tags="", preview="1")
    data.update(scope)
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), data)
    assert response.context["rule_matches"].current == expected


def test_preview_leaves_out_gone_resources(client, findings, analyst):
    Finding.objects.filter(pk=findings["test-1"].pk).update(is_current=False)
    client.force_login(analyst)
    response = client.post(reverse("posture:exception-new"), rule_data(preview="1"))
    assert response.context["rule_matches"].current == 2


# The routes on the finding page keep working.
def test_finding_route_redirects_to_finding(client, findings, analyst, admin2):
    finding = findings["prod-1"]
    proposal = services.exception_propose(
        user=analyst, kind=FindingException.Kind.FALSE_POSITIVE, reason="Misread.", finding_ids=[finding.pk]
    )
    client.force_login(admin2)
    response = client.post(reverse("posture:exception-approve", args=[finding.pk, proposal.pk]))
    assert response["Location"] == reverse("posture:finding-detail", args=[finding.pk])
