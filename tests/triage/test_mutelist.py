from __future__ import annotations

import datetime as dt

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from posture.checks.base import Status, registry
from tests.factories import AccountFactory, result
from tests.triage.conftest import rescan
from triage import services
from triage.models import FindingException
from triage.mutelist import PROWLER_CHECKS, mutelist_import, prowler_check_targets, resource_glob

pytestmark = pytest.mark.django_db

MUTELIST = """
Mutelist:
  Accounts:
    "111111111111":
      Checks:
        "ec2_ebs_volume_encryption":
          Regions: ["us-east-1", "eu-west-1"]
          Resources: ["scratch"]
          Description: "Scratch volumes are rebuilt daily"
        "iam_root_mfa_enabled":
          Regions: ["us-east-1"]
          Resources: ["*"]
        "s3_bucket_object_versioning":
          Regions: ["*"]
          Resources: ["logs"]
    "*":
      Checks:
        "vpc_flow_logs_enabled":
          Regions: ["*"]
          Resources: ["*"]
          Tags: ["env=dev|env=test", "team=data"]
        "ecs_task_definitions_no_environment_secrets":
          Regions: ["*"]
          Resources: ["*"]
        "rds_instance_storage_encrypted":
          Regions: ["*"]
          Resources: ["*"]
          Exceptions:
            Accounts: ["222222222222"]
"""


def in_days(days: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


def one_entry(check: str, *, account: str = "111111111111", regions=("us-east-1",), resources=("*",)) -> str:
    entry = {"Regions": list(regions), "Resources": list(resources)}
    return yaml.safe_dump({"Mutelist": {"Accounts": {account: {"Checks": {check: entry}}}}})


def rules() -> set[tuple]:
    return {
        (e.check_id, e.account_id, e.region, e.resource_pattern, tuple(sorted(e.tags.items())))
        for e in FindingException.objects.all()
    }


def test_import_creates_mapped_rules(analyst):
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    assert len(report.created) == 5
    assert rules() == {
        ("ebs_volume_encrypted", "111111111111", "us-east-1", "*scratch*", ()),
        ("ebs_volume_encrypted", "111111111111", "eu-west-1", "*scratch*", ()),
        # Account-wide results live under "global" here, so the region is dropped.
        ("root_mfa", "111111111111", "", "", ()),
        ("vpc_flow_logs", "", "", "", (("env", "dev"), ("team", "data"))),
        ("vpc_flow_logs", "", "", "", (("env", "test"), ("team", "data"))),
    }


def test_import_proposes_accepted_risks(analyst):
    expires_at = in_days(90)
    mutelist_import(
        user=analyst, text=MUTELIST, reason=" Sandbox ", expires_at=expires_at, source="mute.yaml"
    )
    exception = FindingException.objects.get(check_id="root_mfa")
    assert exception.state == FindingException.State.PROPOSED
    assert exception.kind == FindingException.Kind.RISK_ACCEPTED
    assert exception.reason == "Sandbox"
    assert exception.expires_at == expires_at
    assert exception.created_by == analyst
    assert exception.source == "mute.yaml"


def test_import_keeps_description_in_reason(analyst):
    mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    exception = FindingException.objects.filter(check_id="ebs_volume_encrypted").first()
    assert exception.reason == "Sandbox (Prowler: Scratch volumes are rebuilt daily)"


def test_import_lists_unmatched_checks(analyst):
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    assert report.unmatched_checks == [
        "ecs_task_definitions_no_environment_secrets",
        "s3_bucket_object_versioning",
    ]


def test_import_skips_entries_with_exceptions(analyst):
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    assert len(report.skipped) == 1
    assert report.skipped[0].startswith("account *, check rds_instance_storage_encrypted: it has Exceptions")
    assert not FindingException.objects.filter(check_id="rds_storage_encrypted").exists()


def test_import_lists_unregistered_accounts(analyst):
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    assert report.unregistered_accounts == ["111111111111"]
    AccountFactory(account_id="111111111111")
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    assert report.unregistered_accounts == []


def test_import_expands_check_expression(analyst):
    text = one_entry("ec2_ebs_*")
    report = mutelist_import(user=analyst, text=text, reason="Sandbox", expires_at=in_days(90))
    assert sorted(e.check_id for e in report.created) == ["ebs_default_encryption", "ebs_volume_encrypted"]


def test_import_skips_rule_over_everything(analyst):
    text = one_entry("*", account="*", regions=["*"])
    report = mutelist_import(user=analyst, text=text, reason="Sandbox", expires_at=in_days(90))
    assert not report.created
    assert "A rule needs at least one of" in report.skipped[0]


def test_import_skips_untranslatable_resource(analyst):
    text = one_entry("ec2_ebs_volume_encryption", account="*", resources=["vol-\\d+", "scratch"])
    report = mutelist_import(user=analyst, text=text, reason="Sandbox", expires_at=in_days(90))
    assert [e.resource_pattern for e in report.created] == ["*scratch*"]
    assert "'vol-\\\\d+'" in report.skipped[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mutelist: [unclosed", "is not valid YAML at line 1"),
        ("Accounts: {}", "no top-level Mutelist mapping"),
        ("Mutelist:\n  Accounts:\n    12345:\n      Checks: {}\n", "The account '12345' in the mutelist"),
        (
            'Mutelist:\n  Accounts:\n    "*":\n      Checks:\n        "x":\n          Regions: "*"\n',
            "needs Regions",
        ),
    ],
    ids=["bad-yaml", "no-mutelist", "bad-account", "regions-not-list"],
)
def test_import_rejects_bad_file(analyst, text, message):
    with pytest.raises(ValidationError) as caught:
        mutelist_import(user=analyst, text=text, reason="Sandbox", expires_at=in_days(90))
    assert message in caught.value.messages[0]
    assert not FindingException.objects.exists()


@pytest.mark.parametrize(
    ("reason", "days", "message"),
    [
        ("", 90, "The reason is empty"),
        ("Sandbox", -1, "is not in the future"),
        ("Sandbox", 400, "more than 365 days ahead"),
    ],
    ids=["empty-reason", "expiry-past", "expiry-too-far"],
)
def test_import_rejects_bad_reason_or_expiry(analyst, reason, days, message):
    with pytest.raises(ValidationError, match=message):
        mutelist_import(user=analyst, text=MUTELIST, reason=reason, expires_at=in_days(days))
    assert not FindingException.objects.exists()


def test_imported_rule_covers_finding_once_approved(analyst, admin_user):
    account = AccountFactory(account_id="111111111111")
    volume = "arn:aws:ec2:us-east-1:111111111111:volume/vol-scratch-1"
    rescan(account, [result("ebs_volume_encrypted", Status.FAIL, resource_id=volume)])
    report = mutelist_import(user=analyst, text=MUTELIST, reason="Sandbox", expires_at=in_days(90))
    rule = next(e for e in report.created if e.region == "us-east-1" and e.check_id == "ebs_volume_encrypted")
    services.exception_approve(user=admin_user, exception_id=rule.pk)
    assert account.findings.get(resource_id=volume).exception_id == rule.pk


# The translation tables.
def test_mapping_targets_exist():
    ours = set(registry())
    assert {target for targets in PROWLER_CHECKS.values() for target in targets} <= ours


@pytest.mark.parametrize(
    ("expression", "glob"),
    [
        ("*", ""),
        (".*", ""),
        ("scratch", "*scratch*"),
        ("*-logs", "*-logs*"),
        (".+-logs", "*?*-logs*"),
        ("ci.logs", "*ci?logs*"),
        ("bucket\\.name", "*bucket.name*"),
        ("^arn:aws:s3:::backup-.*$", "arn:aws:s3:::backup-*"),
        ("^prod-", "*[:/]prod-*"),
        ("user-1$", "*user-1"),
        ("vol-\\d+", None),
        ("a|b", None),
        ("[abc]", None),
    ],
)
def test_resource_glob(expression, glob):
    assert resource_glob(expression) == glob


@pytest.mark.parametrize(
    ("check", "targets"),
    [
        ("*", ()),
        ("iam_root_mfa_enabled", ("root_mfa",)),
        ("elb.*_logging_enabled", ("elb_access_logging",)),
        ("s3_bucket_object_versioning", None),
        ("[unclosed", None),
    ],
)
def test_prowler_check_targets(check, targets):
    assert prowler_check_targets(check) == targets


# The command.
def test_command_imports_and_lists(analyst, tmp_path, capsys):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    expires = (timezone.now() + dt.timedelta(days=60)).date().isoformat()
    call_command(
        "import_mutelist", str(path), "--reason", "Sandbox", "--expires", expires, "--user", "analyst"
    )
    output = capsys.readouterr().out
    assert "Proposed 5 rule(s)" in output
    assert "s3_bucket_object_versioning" in output
    assert FindingException.objects.count() == 5
    assert FindingException.objects.first().source == "Prowler mutelist mutelist.yaml"


def test_command_rejects_past_expiry(analyst, tmp_path):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    with pytest.raises(CommandError, match="not in the future. Choose a later date. Nothing was imported."):
        call_command(
            "import_mutelist",
            str(path),
            "--reason",
            "Sandbox",
            "--expires",
            "2020-01-01",
            "--user",
            "analyst",
        )
    assert not FindingException.objects.exists()


def test_command_rejects_bad_date(analyst, tmp_path):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    with pytest.raises(CommandError, match="--expires '31/12/2027' is not a date"):
        call_command(
            "import_mutelist",
            str(path),
            "--reason",
            "Sandbox",
            "--expires",
            "31/12/2027",
            "--user",
            "analyst",
        )


def test_command_rejects_unknown_user(db, tmp_path):
    path = tmp_path / "mutelist.yaml"
    path.write_text(MUTELIST)
    with pytest.raises(CommandError, match="There is no user 'ghost'"):
        call_command(
            "import_mutelist", str(path), "--reason", "x", "--expires", "2030-01-01", "--user", "ghost"
        )


def test_command_rejects_missing_file(analyst, tmp_path):
    with pytest.raises(CommandError, match="Cannot read the mutelist"):
        call_command(
            "import_mutelist",
            str(tmp_path / "none.yaml"),
            "--reason",
            "x",
            "--expires",
            "2030-01-01",
            "--user",
            "analyst",
        )
