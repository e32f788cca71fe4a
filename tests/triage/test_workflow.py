from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from posture.checks.base import Status
from posture.models import Finding, FindingEvent
from tests.factories import AccountFactory, FindingFactory, result
from tests.triage.conftest import CHECK, arn, fail, passed, rescan
from triage import selectors, services

pytestmark = pytest.mark.django_db

State = Finding.TriageState
Kind = FindingEvent.Kind


def finding_of(account, name: str) -> Finding:
    return Finding.objects.get(account=account, resource_id=arn(name))


def kinds(finding: Finding) -> list[str]:
    return list(finding.events.order_by("created_at", "id").values_list("kind", flat=True))


# States set by the scanner.
def test_new_failing_finding_starts_open(fake_checks, account):
    rescan(account, [fail("vol-1")])
    assert finding_of(account, "vol-1").triage_state == State.OPEN


def test_new_passing_finding_starts_resolved(fake_checks, account):
    rescan(account, [passed("vol-1")])
    assert finding_of(account, "vol-1").triage_state == State.RESOLVED


def test_pass_resolves_finding_with_event(fake_checks, account):
    rescan(account, [fail("vol-1")])
    scan = rescan(account, [passed("vol-1")])
    finding = finding_of(account, "vol-1")
    event = finding.events.get(kind=Kind.STATE_CHANGED)
    assert finding.triage_state == State.RESOLVED
    assert (event.field, event.old_value, event.new_value) == ("triage_state", State.OPEN, State.RESOLVED)
    assert event.comment == f"Resolved by scan {scan.pk}: the result is PASS."
    assert event.actor is None
    assert event.scan_id == scan.pk


def test_fail_reopens_resolved_finding_with_event(fake_checks, account):
    rescan(account, [fail("vol-1")])
    rescan(account, [passed("vol-1")])
    scan = rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    event = finding.events.filter(kind=Kind.STATE_CHANGED).last()
    assert finding.triage_state == State.OPEN
    assert (event.old_value, event.new_value) == (State.RESOLVED, State.OPEN)
    assert event.comment == f"Reopened by scan {scan.pk}: the result is FAIL."
    assert kinds(finding).count(Kind.REOPENED) == 1


def test_fail_reopens_hand_resolved_finding(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    pk = finding_of(account, "vol-1").pk
    services.finding_state_set(user=analyst, finding_id=pk, state=State.RESOLVED, comment="Fixed, I think")
    scan = rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    event = finding.events.filter(kind=Kind.STATE_CHANGED).last()
    assert finding.triage_state == State.OPEN
    assert event.comment == f"Reopened by scan {scan.pk}: the result is FAIL."
    assert event.actor is None


def test_unknown_leaves_triage_state(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    services.finding_state_set(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, state=State.IN_PROGRESS
    )
    rescan(account, [result(CHECK, Status.UNKNOWN, resource_id=arn("vol-1"))])
    rescan(account, [fail("vol-1")])
    assert finding_of(account, "vol-1").triage_state == State.IN_PROGRESS


def test_fail_keeps_acknowledged_state(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    services.finding_state_set(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, state=State.ACKNOWLEDGED
    )
    rescan(account, [fail("vol-1")])
    assert finding_of(account, "vol-1").triage_state == State.ACKNOWLEDGED


def test_rescans_survive_with_events_once(fake_checks, account, analyst, analyst2):
    """State, assignee and comments outlive 100 scans, one resolve and one reopen included."""
    names = ["vol-1", "vol-2", "vol-3"]
    rescan(account, [fail(name) for name in names])
    first, second, third = (finding_of(account, name).pk for name in names)
    services.finding_state_set(user=analyst, finding_id=first, state=State.IN_PROGRESS, comment="Fixing it")
    services.finding_assign(user=analyst, finding_id=first, assignee=analyst2)
    services.finding_comment(user=analyst, finding_id=second, text="Owned by the storage team")
    services.finding_state_set(user=analyst, finding_id=third, state=State.ACKNOWLEDGED)

    for number in range(100):
        if number == 40:  # the first volume is fixed, then breaks again in the next scan
            results = [passed("vol-1"), fail("vol-2"), fail("vol-3")]
        else:
            results = [fail(name) for name in names]
        rescan(account, results)

    one, two, three = (Finding.objects.get(pk=pk) for pk in (first, second, third))
    assert Finding.objects.filter(account=account).count() == 3
    assert one.triage_state == State.OPEN  # reopened by the scan after the fix
    assert one.assignee_id == analyst2.pk
    assert two.triage_state == State.OPEN
    assert three.triage_state == State.ACKNOWLEDGED
    assert kinds(one) == [
        Kind.OPENED,
        Kind.STATE_CHANGED,  # in progress, by the analyst
        Kind.ASSIGNED,
        Kind.RESOLVED,  # status PASS
        Kind.STATE_CHANGED,  # resolved by the scan
        Kind.REOPENED,  # status FAIL again
        Kind.STATE_CHANGED,  # reopened by the scan
    ]
    assert kinds(two) == [Kind.OPENED, Kind.COMMENTED]
    assert kinds(three) == [Kind.OPENED, Kind.STATE_CHANGED]
    assert two.events.get(kind=Kind.COMMENTED).comment == "Owned by the storage team"
    assert one.events.filter(kind=Kind.STATE_CHANGED, actor=analyst).get().comment == "Fixing it"


def test_rescan_after_resolve_adds_no_event(fake_checks, account):
    rescan(account, [fail("vol-1")])
    rescan(account, [passed("vol-1")])
    before = FindingEvent.objects.count()
    rescan(account, [passed("vol-1")])
    assert FindingEvent.objects.count() == before


# One finding at a time.
def test_state_set_writes_event(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    finding = services.finding_state_set(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, state=State.ACKNOWLEDGED, comment="Seen"
    )
    event = finding.events.get(kind=Kind.STATE_CHANGED)
    assert finding.triage_state == State.ACKNOWLEDGED
    assert (event.field, event.old_value, event.new_value) == ("triage_state", State.OPEN, State.ACKNOWLEDGED)
    assert event.actor == analyst
    assert event.comment == "Seen"


def test_state_set_same_state_adds_only_comment(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    finding = services.finding_state_set(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, state=State.OPEN, comment="Still open"
    )
    assert kinds(finding) == [Kind.OPENED, Kind.COMMENTED]


@pytest.mark.parametrize("state", [State.RISK_ACCEPTED, State.FALSE_POSITIVE])
def test_state_set_rejects_exception_states(fake_checks, account, analyst, state):
    rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    with pytest.raises(ValidationError, match="comes from an exception"):
        services.finding_state_set(user=analyst, finding_id=finding.pk, state=state)
    finding.refresh_from_db()
    assert finding.triage_state == State.OPEN
    assert finding.events.count() == 1


def test_state_set_rejects_unknown_state(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    with pytest.raises(ValidationError, match="'closed'"):
        services.finding_state_set(user=analyst, finding_id=finding_of(account, "vol-1").pk, state="closed")


def test_state_set_missing_finding_is_404(analyst):
    with pytest.raises(Http404):
        services.finding_state_set(user=analyst, finding_id=999999, state=State.ACKNOWLEDGED)


def test_assign_writes_event(fake_checks, account, analyst, analyst2):
    rescan(account, [fail("vol-1")])
    finding = services.finding_assign(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, assignee=analyst2
    )
    event = finding.events.get(kind=Kind.ASSIGNED)
    assert finding.assignee == analyst2
    assert (event.field, event.old_value, event.new_value) == ("assignee", "", "analyst2")


def test_unassign_writes_event(fake_checks, account, analyst, analyst2):
    rescan(account, [fail("vol-1")])
    pk = finding_of(account, "vol-1").pk
    services.finding_assign(user=analyst, finding_id=pk, assignee=analyst2)
    finding = services.finding_assign(user=analyst, finding_id=pk, assignee=None)
    event = finding.events.filter(kind=Kind.ASSIGNED).last()
    assert finding.assignee is None
    assert (event.old_value, event.new_value) == ("analyst2", "")


def test_assign_rejects_viewer(fake_checks, account, analyst, viewer):
    rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    with pytest.raises(ValidationError, match="viewer cannot be assigned"):
        services.finding_assign(user=analyst, finding_id=finding.pk, assignee=viewer)
    finding.refresh_from_db()
    assert finding.assignee is None


def test_comment_writes_event(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    event = services.finding_comment(
        user=analyst, finding_id=finding_of(account, "vol-1").pk, text=" Ticket 42 "
    )
    assert (event.kind, event.comment, event.actor) == (Kind.COMMENTED, "Ticket 42", analyst)


def test_comment_rejects_blank(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    with pytest.raises(ValidationError, match="comment is empty"):
        services.finding_comment(user=analyst, finding_id=finding.pk, text="   ")
    assert finding.events.count() == 1


# Bulk triage.
@pytest.fixture
def many_findings(db):
    account = AccountFactory()
    return [FindingFactory(account=account, check_id=CHECK) for _ in range(5)]


def test_bulk_changes_state_and_assignee(many_findings, analyst, analyst2):
    ids = [f.pk for f in many_findings]
    changed = services.findings_bulk_triage(
        user=analyst, finding_ids=ids, state=State.IN_PROGRESS, assignee=analyst2, comment="Sprint 12"
    )
    assert changed == 5
    assert set(Finding.objects.filter(pk__in=ids).values_list("triage_state", flat=True)) == {
        State.IN_PROGRESS
    }
    assert set(Finding.objects.filter(pk__in=ids).values_list("assignee_id", flat=True)) == {analyst2.pk}
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED, comment="Sprint 12").count() == 5
    assert FindingEvent.objects.filter(kind=Kind.ASSIGNED, comment="").count() == 5


def test_bulk_counts_only_changed(many_findings, analyst):
    ids = [f.pk for f in many_findings]
    services.finding_state_set(user=analyst, finding_id=ids[0], state=State.ACKNOWLEDGED)
    assert services.findings_bulk_triage(user=analyst, finding_ids=ids, state=State.ACKNOWLEDGED) == 4
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED, finding_id=ids[0]).count() == 1


def test_bulk_comment_only(many_findings, analyst):
    ids = [f.pk for f in many_findings]
    assert services.findings_bulk_triage(user=analyst, finding_ids=ids, comment="Reviewed") == 5
    assert FindingEvent.objects.filter(kind=Kind.COMMENTED, comment="Reviewed").count() == 5


def test_bulk_unassign(many_findings, analyst, analyst2):
    ids = [f.pk for f in many_findings]
    services.findings_bulk_triage(user=analyst, finding_ids=ids, assignee=analyst2)
    assert services.findings_bulk_triage(user=analyst, finding_ids=ids, unassign=True) == 5
    assert not Finding.objects.filter(pk__in=ids, assignee__isnull=False).exists()


def test_bulk_unknown_id_changes_nothing(many_findings, analyst):
    ids = [f.pk for f in many_findings] + [987654]
    with pytest.raises(ValidationError, match="Findings 987654 do not exist or are not visible"):
        services.findings_bulk_triage(user=analyst, finding_ids=ids, state=State.ACKNOWLEDGED)
    assert not Finding.objects.filter(triage_state=State.ACKNOWLEDGED).exists()
    assert not FindingEvent.objects.exists()


def test_bulk_rejects_risk_accepted(many_findings, analyst):
    ids = [f.pk for f in many_findings]
    with pytest.raises(ValidationError, match="comes from an exception"):
        services.findings_bulk_triage(user=analyst, finding_ids=ids, state=State.RISK_ACCEPTED)
    assert not FindingEvent.objects.exists()


def test_bulk_rejects_empty_selection(analyst):
    with pytest.raises(ValidationError, match="No finding is selected"):
        services.findings_bulk_triage(user=analyst, finding_ids=[], state=State.ACKNOWLEDGED)


def test_bulk_rejects_nothing_to_do(many_findings, analyst):
    with pytest.raises(ValidationError, match="Nothing to do"):
        services.findings_bulk_triage(user=analyst, finding_ids=[many_findings[0].pk])


def test_bulk_rejects_non_numeric_id(analyst):
    with pytest.raises(ValidationError, match="'abc' is not a finding id"):
        services.findings_bulk_triage(user=analyst, finding_ids=["abc"], state=State.ACKNOWLEDGED)


def test_bulk_spans_chunks(analyst):
    """More ids than one query takes: every finding changes, each with one event."""
    account = AccountFactory()
    findings = Finding.objects.bulk_create(
        [FindingFactory.build(account=account, check_id=CHECK) for _ in range(services.CHUNK * 2 + 5)]
    )
    changed = services.findings_bulk_triage(
        user=analyst, finding_ids=[f.pk for f in findings], state=State.ACKNOWLEDGED
    )
    assert changed == len(findings)
    assert Finding.objects.filter(triage_state=State.ACKNOWLEDGED).count() == len(findings)
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED).count() == len(findings)


def test_bulk_preview_writes_nothing(many_findings, analyst, analyst2):
    ids = [f.pk for f in many_findings]
    selectors.findings_bulk_preview(user=analyst, finding_ids=ids, state=State.IN_PROGRESS, assignee=analyst2)
    assert not Finding.objects.filter(triage_state=State.IN_PROGRESS).exists()
    assert not FindingEvent.objects.exists()


def test_bulk_preview_counts_what_service_writes(many_findings, analyst, analyst2):
    """A mixed selection: the preview's ids and count are the service's changes and return value."""
    ids = [f.pk for f in many_findings]
    services.findings_bulk_triage(user=analyst, finding_ids=ids[:2], state=State.IN_PROGRESS)
    services.findings_bulk_triage(user=analyst, finding_ids=ids[1:3], assignee=analyst2)
    FindingEvent.objects.all().delete()
    preview = selectors.findings_bulk_preview(
        user=analyst, finding_ids=ids, state=State.IN_PROGRESS, assignee=analyst2
    )
    assert sorted(preview.state_ids) == ids[2:]
    assert sorted(preview.assign_ids) == [ids[0], *ids[3:]]
    assert preview.unchanged == 1
    changed = services.findings_bulk_triage(
        user=analyst, finding_ids=ids, state=State.IN_PROGRESS, assignee=analyst2
    )
    assert changed == preview.changed
    assert FindingEvent.objects.filter(kind=Kind.STATE_CHANGED).count() == len(preview.state_ids)
    assert FindingEvent.objects.filter(kind=Kind.ASSIGNED).count() == len(preview.assign_ids)


def test_bulk_preview_rejects_viewer(many_findings, viewer):
    with pytest.raises(PermissionDenied):
        selectors.findings_bulk_preview(
            user=viewer, finding_ids=[many_findings[0].pk], state=State.ACKNOWLEDGED
        )


def test_state_set_by_exception_kept(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    proposal = services.exception_propose(
        user=analyst, kind="false_positive", reason="Misread volume.", finding_ids=[finding.pk]
    )
    services.exception_approve(user=admin_user, exception_id=proposal.pk)
    with pytest.raises(ValidationError) as caught:
        services.finding_state_set(user=analyst, finding_id=finding.pk, state="acknowledged")
    finding.refresh_from_db()
    assert "which sets its state" in caught.value.messages[0]
    assert finding.triage_state == "false_positive"
