from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from posture.models import Finding, FindingEvent
from tests.factories import AccountFactory
from tests.triage.conftest import CHECK, OTHER_CHECK, arn, fail, passed, rescan
from triage import services
from triage.models import FindingException

pytestmark = pytest.mark.django_db

State = Finding.TriageState
Kind = FindingEvent.Kind
RISK = FindingException.Kind.RISK_ACCEPTED
FALSE_POSITIVE = FindingException.Kind.FALSE_POSITIVE


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def finding_of(account, name: str, region: str = "us-east-1", check_id: str = CHECK) -> Finding:
    return Finding.objects.get(
        account=account, check_id=check_id, resource_id=arn(name, account.account_id, region)
    )


def approved(analyst, admin, **fields) -> FindingException:
    fields.setdefault("kind", RISK)
    fields.setdefault("reason", "Test volumes hold no data.")
    if fields["kind"] == RISK:
        fields.setdefault("expires_at", in_days(30))
    exception = services.exception_propose(user=analyst, **fields)
    return services.exception_approve(user=admin, exception_id=exception.pk)


def travel(monkeypatch, when: dt.datetime) -> None:
    """Make timezone.now() return `when` for the rest of the test."""
    monkeypatch.setattr(timezone, "now", lambda: when)


# Proposal and review.
def test_proposed_exception_covers_nothing(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    exception = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(30), check_id=CHECK
    )
    assert exception.state == FindingException.State.PROPOSED
    assert finding_of(account, "vol-1").exception is None


def test_approved_rule_covers_failing_finding(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK)
    finding = finding_of(account, "vol-1")
    applied = finding.events.get(kind=Kind.EXCEPTION_APPLIED)
    changed = finding.events.get(kind=Kind.STATE_CHANGED)
    assert finding.exception_id == exception.pk
    assert finding.triage_state == State.RISK_ACCEPTED
    assert (applied.field, applied.old_value, applied.new_value) == ("exception", "", str(exception.pk))
    assert applied.actor == admin_user
    assert applied.comment.startswith(f"Exception {exception.pk} applies: risk accepted until ")
    assert (changed.old_value, changed.new_value) == (State.OPEN, State.RISK_ACCEPTED)


def test_approved_rule_leaves_passing_finding_resolved(fake_checks, account, analyst, admin_user):
    rescan(account, [passed("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK)
    finding = finding_of(account, "vol-1")
    assert finding.exception_id == exception.pk
    assert finding.triage_state == State.RESOLVED


def test_false_positive_sets_its_state(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    approved(analyst, admin_user, kind=FALSE_POSITIVE, check_id=CHECK)
    assert finding_of(account, "vol-1").triage_state == State.FALSE_POSITIVE


def test_false_positive_needs_no_expiry(fake_checks, account, analyst):
    exception = services.exception_propose(user=analyst, kind=FALSE_POSITIVE, reason="Wrong", check_id=CHECK)
    assert exception.expires_at is None


def test_approve_records_reviewer(fake_checks, analyst, admin_user):
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    exception = services.exception_approve(
        user=admin_user, exception_id=proposed.pk, comment="OK for a month"
    )
    assert exception.state == FindingException.State.APPROVED
    assert exception.reviewed_by == admin_user
    assert exception.review_comment == "OK for a month"


def test_approve_twice_rejected(fake_checks, analyst, admin_user, admin2):
    exception = approved(analyst, admin_user, check_id=CHECK)
    with pytest.raises(ValidationError, match="only a proposed exception"):
        services.exception_approve(user=admin2, exception_id=exception.pk)


def test_approve_after_expiry_rejected(fake_checks, analyst, admin_user):
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(1), check_id=CHECK
    )
    with pytest.raises(ValidationError, match="expired at .* before it was approved"):
        services.exception_approve(user=admin_user, exception_id=proposed.pk, now=in_days(2))
    proposed.refresh_from_db()
    assert proposed.state == FindingException.State.PROPOSED


def test_reject_needs_comment(fake_checks, analyst, admin_user):
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    with pytest.raises(ValidationError, match="Say why"):
        services.exception_reject(user=admin_user, exception_id=proposed.pk, comment=" ")
    proposed.refresh_from_db()
    assert proposed.state == FindingException.State.PROPOSED


def test_rejected_exception_covers_nothing(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    exception = services.exception_reject(user=admin_user, exception_id=proposed.pk, comment="Fix it instead")
    assert exception.state == FindingException.State.REJECTED
    assert exception.review_comment == "Fix it instead"
    assert finding_of(account, "vol-1").exception is None


# Scope: each field alone and combined.
@pytest.fixture
def spread(fake_checks, analyst):
    """Findings that differ from vol-1 in exactly one scope field each."""
    main = AccountFactory(account_id="111111111111")
    other = AccountFactory(account_id="222222222222")
    rescan(
        main,
        [
            fail("vol-1", tags={"env": "test"}),
            fail("vol-1", check_id=OTHER_CHECK, tags={"env": "test"}),
            fail("vol-1", region="eu-west-1", tags={"env": "test"}),
            fail("keep-1", tags={"env": "test"}),
            fail("vol-2", tags={"env": "prod"}),
        ],
    )
    rescan(other, [fail("vol-1", account_id="222222222222", tags={"env": "test"})])
    return {
        "base": finding_of(main, "vol-1").pk,
        "other_check": finding_of(main, "vol-1", check_id=OTHER_CHECK).pk,
        "other_region": finding_of(main, "vol-1", "eu-west-1").pk,
        "other_resource": finding_of(main, "keep-1").pk,
        "other_tag": finding_of(main, "vol-2").pk,
        "other_account": finding_of(other, "vol-1").pk,
    }


def covered(ids: dict[str, int]) -> set[str]:
    names = {pk: name for name, pk in ids.items()}
    return {names[pk] for pk in Finding.objects.filter(exception__isnull=False).values_list("pk", flat=True)}


ALL = {"base", "other_check", "other_region", "other_resource", "other_tag", "other_account"}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"check_id": CHECK}, ALL - {"other_check"}),
        ({"account_id": "111111111111"}, ALL - {"other_account"}),
        ({"region": "us-east-1"}, ALL - {"other_region"}),
        ({"resource_pattern": "arn:aws:ec2:*:volume/vol-*"}, ALL - {"other_resource"}),
        ({"tags": {"env": "test"}}, ALL - {"other_tag"}),
        (
            {
                "check_id": CHECK,
                "account_id": "111111111111",
                "region": "us-east-1",
                "resource_pattern": "*/vol-?",
                "tags": {"env": "test"},
            },
            {"base"},
        ),
    ],
    ids=["check", "account", "region", "resource", "tag", "combined"],
)
def test_rule_scope(spread, analyst, admin_user, scope, expected):
    approved(analyst, admin_user, **scope)
    assert covered(spread) == expected


def test_listed_exception_covers_only_its_findings(spread, analyst, admin_user):
    approved(analyst, admin_user, finding_ids=[spread["base"], spread["other_account"]])
    assert covered(spread) == {"base", "other_account"}


def test_listed_exception_before_rule(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    rule = approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(300))
    listed = approved(
        analyst, admin_user, finding_ids=[finding_of(account, "vol-1").pk], expires_at=in_days(10)
    )
    finding = finding_of(account, "vol-1")
    switch = finding.events.filter(kind=Kind.EXCEPTION_APPLIED).last()
    assert finding.exception_id == listed.pk
    assert (switch.old_value, switch.new_value) == (str(rule.pk), str(listed.pk))


def test_false_positive_before_accepted_risk(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    approved(analyst, admin_user, check_id=CHECK)
    false_positive = approved(analyst, admin_user, kind=FALSE_POSITIVE, region="us-east-1")
    finding = finding_of(account, "vol-1")
    assert finding.exception_id == false_positive.pk
    assert finding.triage_state == State.FALSE_POSITIVE


def test_rule_covers_finding_found_later(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, resource_pattern="*/vol-*")
    scan = rescan(account, [fail("vol-1"), fail("vol-2")])
    later = finding_of(account, "vol-2")
    applied = later.events.get(kind=Kind.EXCEPTION_APPLIED)
    assert later.exception_id == exception.pk
    assert later.triage_state == State.RISK_ACCEPTED
    assert list(later.events.values_list("kind", flat=True)) == [
        Kind.OPENED,
        Kind.EXCEPTION_APPLIED,
        Kind.STATE_CHANGED,
    ]
    assert applied.scan_id == scan.pk
    assert applied.actor is None


def test_rescan_keeps_coverage_without_events(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    approved(analyst, admin_user, check_id=CHECK)
    before = FindingEvent.objects.count()
    for _ in range(5):
        rescan(account, [fail("vol-1")])
    assert FindingEvent.objects.count() == before


def test_reopen_under_exception_takes_its_state(fake_checks, account, analyst, admin_user):
    rescan(account, [passed("vol-1")])
    approved(analyst, admin_user, check_id=CHECK)
    rescan(account, [fail("vol-1")])
    assert finding_of(account, "vol-1").triage_state == State.RISK_ACCEPTED


def test_tags_read_from_evidence(fake_checks, account):
    rescan(account, [fail("vol-1", tags={"env": "test", "team": "storage"})])
    assert finding_of(account, "vol-1").tags == {"env": "test", "team": "storage"}


def test_changed_tag_uncovers_with_event(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1", tags={"env": "test"})])
    exception = approved(analyst, admin_user, tags={"env": "test"})
    rescan(account, [fail("vol-1", tags={"env": "prod"})])
    finding = finding_of(account, "vol-1")
    removed = finding.events.get(kind=Kind.EXCEPTION_REMOVED)
    assert finding.exception is None
    assert finding.triage_state == State.OPEN
    assert removed.comment == (
        f"Exception {exception.pk} no longer matches the finding (its scope or the resource's tags changed)."
    )


# Disabling, enabling and deleting restore the findings.
def test_disable_restores_findings(fake_checks, account, analyst, admin_user, admin2):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK)
    services.exception_disable(user=admin2, exception_id=exception.pk, comment="Audit next week")
    finding = finding_of(account, "vol-1")
    removed = finding.events.get(kind=Kind.EXCEPTION_REMOVED)
    assert finding.exception is None
    assert finding.triage_state == State.OPEN
    assert removed.comment == f"Exception {exception.pk} was disabled by admin2. Audit next week"
    assert removed.actor == admin2


def test_enable_covers_again(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK)
    services.exception_disable(user=admin_user, exception_id=exception.pk)
    services.exception_enable(user=admin_user, exception_id=exception.pk)
    finding = finding_of(account, "vol-1")
    assert finding.exception_id == exception.pk
    assert finding.triage_state == State.RISK_ACCEPTED


@pytest.mark.parametrize("switch", [services.exception_disable, services.exception_enable])
def test_switch_rejects_proposal(fake_checks, account, analyst, admin_user, switch):
    proposal = services.exception_propose(
        user=analyst, kind=RISK, reason="Test volumes hold no data.", expires_at=in_days(30), check_id=CHECK
    )
    with pytest.raises(ValidationError) as caught:
        switch(user=admin_user, exception_id=proposal.pk)
    proposal.refresh_from_db()
    assert "Only an approved exception can be" in caught.value.messages[0]
    assert proposal.enabled


def test_disabled_rule_skips_finding_found_later(fake_checks, account, analyst, admin_user):
    exception = approved(analyst, admin_user, check_id=CHECK)
    services.exception_disable(user=admin_user, exception_id=exception.pk)
    rescan(account, [fail("vol-1")])
    assert finding_of(account, "vol-1").exception is None


def test_delete_restores_findings(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1"), fail("vol-2")])
    exception = approved(analyst, admin_user, check_id=CHECK)
    pk = exception.pk
    restored = services.exception_delete(user=admin_user, exception_id=pk)
    finding = finding_of(account, "vol-1")
    removed = finding.events.get(kind=Kind.EXCEPTION_REMOVED)
    assert restored == 2
    assert not FindingException.objects.filter(pk=pk).exists()
    assert finding.exception is None
    assert finding.triage_state == State.OPEN
    assert (removed.old_value, removed.new_value) == (str(pk), "")
    assert removed.comment == f"Exception {pk} was deleted by admin1."


def test_delete_hands_over_to_other_rule(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    first = approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(200))
    second = approved(analyst, admin_user, region="us-east-1", expires_at=in_days(100))
    services.exception_delete(user=admin_user, exception_id=first.pk)
    finding = finding_of(account, "vol-1")
    assert finding.exception_id == second.pk
    assert finding.triage_state == State.RISK_ACCEPTED


def test_author_withdraws_own_proposal(fake_checks, analyst):
    proposed = services.exception_propose(
        user=analyst, kind=RISK, reason="Lab", expires_at=in_days(9), check_id=CHECK
    )
    services.exception_delete(user=analyst, exception_id=proposed.pk)
    assert not FindingException.objects.exists()


# Expiry.
def test_expiry_task_uncovers_with_event(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(1))
    changed = services.exceptions_expire(now=in_days(2))
    finding = finding_of(account, "vol-1")
    expired = finding.events.get(kind=Kind.EXCEPTION_EXPIRED)
    state = finding.events.filter(kind=Kind.STATE_CHANGED).last()
    exception.refresh_from_db()
    assert changed == 1
    assert exception.state == FindingException.State.EXPIRED
    assert finding.exception is None
    assert finding.triage_state == State.OPEN
    assert (
        expired.comment == f"Exception {exception.pk} expired at {exception.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    assert expired.actor is None
    assert (state.old_value, state.new_value) == (State.RISK_ACCEPTED, State.OPEN)


def test_expiry_task_twice_changes_nothing(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(1))
    services.exceptions_expire(now=in_days(2))
    before = FindingEvent.objects.count()
    assert services.exceptions_expire(now=in_days(2)) == 0
    assert FindingEvent.objects.count() == before


def test_expiry_task_leaves_valid_exceptions(fake_checks, account, analyst, admin_user):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(10))
    assert services.exceptions_expire(now=in_days(2)) == 0
    assert finding_of(account, "vol-1").exception_id == exception.pk


def test_scan_after_expiry_uncovers_before_task(fake_checks, account, analyst, admin_user, monkeypatch):
    rescan(account, [fail("vol-1")])
    exception = approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(1))
    travel(monkeypatch, in_days(2))
    rescan(account, [fail("vol-1")])
    finding = finding_of(account, "vol-1")
    assert finding.exception is None
    assert finding.events.get(kind=Kind.EXCEPTION_EXPIRED).comment.startswith(
        f"Exception {exception.pk} expired"
    )


def test_expire_task_schedule_exists():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="triage.tasks.expire_exceptions")
    assert (task.interval.every, task.interval.period) == (5, "minutes")


def test_expire_task_runs_service(fake_checks, account, analyst, admin_user, monkeypatch):
    from triage.tasks import expire_exceptions

    rescan(account, [fail("vol-1")])
    approved(analyst, admin_user, check_id=CHECK, expires_at=in_days(1))
    travel(monkeypatch, in_days(2))
    assert expire_exceptions.delay().get() == 1


# Bad input: a clear message and nothing created.
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"expires_at": "past"}, "expires_at", "is not in the future"),
        ({"expires_at": "far"}, "expires_at", "more than 365 days ahead"),
        ({"expires_at": None}, "expires_at", "An accepted risk needs an expiry"),
        ({"reason": "   "}, "reason", "The reason is empty"),
        (
            {"resource_pattern": "arn:aws:s3:::logs-[0-9"},
            "resource_pattern",
            "'arn:aws:s3:::logs-[0-9' has an unclosed [",
        ),
        ({"resource_pattern": "^arn:.*$"}, "resource_pattern", "looks like a regular expression"),
        ({"check_id": "no_such_check"}, "check_id", "There is no check 'no_such_check'"),
        ({"account_id": "1234"}, "account_id", "'1234' is not an AWS account id"),
        ({"region": "mars-north-1"}, "region", "Unknown region 'mars-north-1'"),
        ({"check_id": "", "tags": {"": "x"}}, "tags", "The tag key '' is invalid"),
        ({"check_id": ""}, "scope", "A rule needs at least one of"),
    ],
    ids=[
        "expiry-past",
        "expiry-too-far",
        "expiry-missing",
        "empty-reason",
        "unclosed-bracket",
        "regex-pattern",
        "unknown-check",
        "bad-account",
        "unknown-region",
        "empty-tag-key",
        "no-scope",
    ],
)
def test_propose_rejects_bad_input(fake_checks, analyst, fields, field, message):
    values = {"kind": RISK, "reason": "Lab", "expires_at": in_days(30), "check_id": CHECK, **fields}
    if values["expires_at"] == "past":
        values["expires_at"] = in_days(-1)
    elif values["expires_at"] == "far":
        values["expires_at"] = in_days(366)
    with pytest.raises(ValidationError) as caught:
        services.exception_propose(user=analyst, **values)
    assert any(message in text for text in caught.value.message_dict[field])
    assert not FindingException.objects.exists()


def test_expiry_exactly_a_year_ahead_accepted(fake_checks, analyst):
    now = timezone.now()
    exception = services.exception_propose(
        user=analyst,
        kind=RISK,
        reason="Lab",
        expires_at=now + dt.timedelta(days=365),
        check_id=CHECK,
        now=now,
    )
    assert exception.pk is not None


def test_propose_rejects_listed_and_rule(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    with pytest.raises(ValidationError) as caught:
        services.exception_propose(
            user=analyst,
            kind=RISK,
            reason="Lab",
            expires_at=in_days(9),
            finding_ids=[finding_of(account, "vol-1").pk],
            check_id=CHECK,
        )
    assert "lists findings or describes a rule" in caught.value.message_dict["scope"][0]
    assert not FindingException.objects.exists()


def test_propose_rejects_unknown_finding(fake_checks, account, analyst):
    rescan(account, [fail("vol-1")])
    with pytest.raises(ValidationError, match="Findings 424242 do not exist or are not visible"):
        services.exception_propose(
            user=analyst,
            kind=RISK,
            reason="Lab",
            expires_at=in_days(9),
            finding_ids=[finding_of(account, "vol-1").pk, 424242],
        )
    assert not FindingException.objects.exists()
