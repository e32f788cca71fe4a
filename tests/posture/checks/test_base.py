"""`tags_evidence`: the one shape every check gives a resource's tags in its evidence."""

from __future__ import annotations

from posture.aws.inventory import ReadError
from posture.checks.base import tags_evidence
from posture.services import tags_from_evidence

DENIED = ReadError(operation="s3:GetBucketTagging", code="AccessDenied", message="Denied")


def test_tags_evidence_sorts_by_key():
    tags = [{"Key": "team", "Value": "ops"}, {"Key": "env", "Value": "prod"}]
    assert tags_evidence(tags) == {"Tags": [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "ops"}]}


def test_tags_evidence_empty_list_adds_nothing():
    assert tags_evidence([]) == {}


def test_tags_evidence_missing_adds_nothing():
    assert tags_evidence(None) == {}


def test_tags_evidence_missing_value_is_empty_text():
    assert tags_evidence([{"Key": "scratch"}]) == {"Tags": [{"Key": "scratch", "Value": ""}]}


def test_tags_evidence_skips_malformed_items():
    assert tags_evidence(["env", {"Value": "prod"}]) == {}


def test_tags_evidence_failed_read_named():
    assert tags_evidence(DENIED) == {"tags_error": DENIED.as_dict()}


def test_tags_evidence_round_trips_to_finding_tags():
    evidence = tags_evidence([{"Key": "team", "Value": "ops"}, {"Key": "env", "Value": "prod"}])
    assert tags_from_evidence(evidence) == {"env": "prod", "team": "ops"}


def test_failed_tag_read_gives_no_finding_tags():
    assert tags_from_evidence(tags_evidence(DENIED)) == {}
