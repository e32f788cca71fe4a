from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from posture.checks.base import Status
from posture.models import Finding
from triage.coverage import (
    CompiledException,
    ExceptionIndex,
    tags_from_evidence,
    triage_after_coverage,
    triage_after_scan,
)
from triage.models import FindingException
from triage.validators import parse_tags, validate_resource_pattern

State = Finding.TriageState
T0 = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def compiled(
    pk: int, *, kind=FindingException.Kind.RISK_ACCEPTED, expires_days=None, **scope
) -> CompiledException:
    exception = FindingException(
        pk=pk,
        kind=kind,
        scope=FindingException.Scope.RULE,
        expires_at=T0 + dt.timedelta(days=expires_days) if expires_days is not None else None,
        **scope,
    )
    return CompiledException.build(exception)


def best(index: ExceptionIndex, **fields) -> int | None:
    values = {
        "finding_id": 1,
        "check_id": "ebs_volume_encrypted",
        "account_id": "111111111111",
        "region": "us-east-1",
        "resource_id": "arn:aws:ec2:us-east-1:111111111111:volume/vol-1",
        "tags": {},
        **fields,
    }
    found = index.best(**values)
    return found.pk if found else None


# Matching and choice.
def test_index_matches_glob_on_whole_id():
    index = ExceptionIndex([compiled(1, resource_pattern="*/vol-1")], {})
    assert best(index) == 1
    assert best(index, resource_id="arn:aws:ec2:us-east-1:111111111111:volume/vol-10") is None


def test_glob_is_case_sensitive():
    index = ExceptionIndex([compiled(1, resource_pattern="*/VOL-1")], {})
    assert best(index) is None


def test_index_skips_other_account_and_check():
    index = ExceptionIndex(
        [compiled(1, account_id="222222222222"), compiled(2, check_id="root_mfa")],
        {},
    )
    assert best(index) is None


def test_index_prefers_false_positive():
    index = ExceptionIndex(
        [
            compiled(1, check_id="ebs_volume_encrypted", expires_days=300),
            compiled(2, kind=FindingException.Kind.FALSE_POSITIVE, region="us-east-1", expires_days=5),
        ],
        {},
    )
    assert best(index) == 2


def test_index_prefers_longest_lasting():
    index = ExceptionIndex(
        [
            compiled(1, check_id="ebs_volume_encrypted", expires_days=5),
            compiled(2, account_id="111111111111", expires_days=50),
            compiled(3, region="us-east-1", expires_days=20),
        ],
        {},
    )
    assert best(index) == 2


def test_index_prefers_listed():
    rule = compiled(1, check_id="ebs_volume_encrypted", expires_days=300)
    listed = CompiledException.build(
        FindingException(
            pk=2, kind=FindingException.Kind.RISK_ACCEPTED, scope=FindingException.Scope.FINDINGS
        )
    )
    index = ExceptionIndex([rule, listed], {1: [listed]})
    assert best(index) == 2
    assert best(index, finding_id=7) == 1


def test_index_tags_must_all_match():
    index = ExceptionIndex([compiled(1, tags={"env": "test", "team": "data"})], {})
    assert best(index, tags={"env": "test"}) is None
    assert best(index, tags={"env": "test", "team": "data", "x": "y"}) == 1


# Triage state rules.
@pytest.mark.parametrize(
    ("state", "old", "new", "kind", "expected"),
    [
        (State.IN_PROGRESS, Status.FAIL, Status.PASS, None, State.RESOLVED),
        (State.OPEN, Status.FAIL, Status.NOT_APPLICABLE, None, State.RESOLVED),
        (State.RESOLVED, Status.PASS, Status.FAIL, None, State.OPEN),
        (State.RESOLVED, Status.FAIL, Status.FAIL, None, State.OPEN),
        (State.OPEN, Status.PASS, Status.PASS, None, State.OPEN),
        (State.RESOLVED, Status.PASS, Status.FAIL, "false_positive", State.FALSE_POSITIVE),
        (State.ACKNOWLEDGED, Status.UNKNOWN, Status.FAIL, None, State.ACKNOWLEDGED),
        (State.RESOLVED, Status.PASS, Status.UNKNOWN, None, State.RESOLVED),
    ],
)
def test_triage_after_scan(state, old, new, kind, expected):
    assert triage_after_scan(state=state, old_status=old, new_status=new, covered_kind=kind) == expected


@pytest.mark.parametrize(
    ("state", "status", "kind", "expected"),
    [
        (State.IN_PROGRESS, Status.FAIL, "risk_accepted", State.RISK_ACCEPTED),
        (State.RESOLVED, Status.PASS, "risk_accepted", State.RESOLVED),
        (State.RISK_ACCEPTED, Status.FAIL, None, State.OPEN),
        (State.FALSE_POSITIVE, Status.PASS, None, State.RESOLVED),
        (State.IN_PROGRESS, Status.FAIL, None, State.IN_PROGRESS),
    ],
)
def test_triage_after_coverage(state, status, kind, expected):
    assert triage_after_coverage(state=state, status=status, covered_kind=kind) == expected


# Inputs.
def test_tags_from_tag_list():
    assert tags_from_evidence({"TagList": [{"Key": "env", "Value": "prod"}]}) == {"env": "prod"}


def test_tags_from_evidence_without_tags():
    assert tags_from_evidence({"Encrypted": False}) == {}


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("arn:aws:s3:::logs-[0-9", "has an unclosed [ at position 19"),
        ("arn:aws:s3:::logs]", "has a ] without [ at position 18"),
        ("vol-(1|2)", "looks like a regular expression"),
        ("vol-\\d", "looks like a regular expression"),
        ("vol-\x07", "contains a control character"),
    ],
)
def test_bad_pattern_named(pattern, message):
    with pytest.raises(ValidationError) as caught:
        validate_resource_pattern(pattern)
    assert message in caught.value.messages[0]
    assert repr(pattern) in caught.value.messages[0]


@pytest.mark.parametrize(
    "pattern", ["arn:aws:s3:::backup-*", "*/vol-[0-9][!x]?", "arn:aws:iam::*:user/a+b@c"]
)
def test_good_pattern_accepted(pattern):
    validate_resource_pattern(pattern)


def test_parse_tags():
    assert parse_tags("env=test, team = data\nowner=") == {"env": "test", "team": "data", "owner": ""}


def test_parse_tags_rejects_missing_equals():
    with pytest.raises(ValidationError, match="'envtest' is not key=value"):
        parse_tags("envtest")
