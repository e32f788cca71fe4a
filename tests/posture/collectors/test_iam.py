from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from posture.aws.collectors.ec2_keys import collect_ec2_keys
from posture.aws.collectors.iam import (
    CredentialReportError,
    collect_iam,
    fetch_credential_report,
    parse_credential_report,
)
from posture.aws.inventory import GLOBAL_REGION, Inventory, ReadError
from posture.aws.session import ClientFactory
from tests.aws import aws_account

ACCOUNT = "111111111111"
REGION = "us-east-1"

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated"
)
ROOT_LINE = (
    f"<root_account>,arn:aws:iam::{ACCOUNT}:root,2020-01-01T00:00:00+00:00,not_supported,"
    "2026-01-05T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,"
    "N/A,N/A,false,N/A,false,N/A"
)
USER_LINE = (
    f"alice,arn:aws:iam::{ACCOUNT}:user/alice,2025-06-01T08:00:00+00:00,true,no_information,"
    "2025-06-01T08:00:00+00:00,N/A,false,true,2025-06-01T08:05:00+00:00,N/A,N/A,N/A,false,N/A,N/A,"
    "N/A,N/A,false,N/A,false,N/A"
)


# Parsing the report.
def test_parse_keeps_root_row_apart():
    report = parse_credential_report(f"{HEADER}\n{ROOT_LINE}\n{USER_LINE}\n".encode(), None)
    assert report["root"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert [row["user"] for row in report["users"]] == ["alice"]


def test_parse_never_values_become_none():
    row = parse_credential_report(f"{HEADER}\n{USER_LINE}\n", None)["users"][0]
    assert row["password_last_used"] is None
    assert row["access_key_1_last_used_date"] is None
    assert row["password_next_rotation"] is None
    assert row["access_key_2_active"] is False


def test_parse_root_not_supported_is_not_a_boolean():
    root = parse_credential_report(f"{HEADER}\n{ROOT_LINE}\n", None)["root"]
    assert root["password_enabled"] is None


def test_parse_types_dates_and_booleans():
    row = parse_credential_report(f"{HEADER}\n{USER_LINE}\n", None)["users"][0]
    assert row["password_enabled"] is True
    assert row["access_key_1_last_rotated"] == dt.datetime(2025, 6, 1, 8, 5, tzinfo=dt.UTC)


def test_parse_keeps_generated_time():
    generated = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert parse_credential_report(f"{HEADER}\n", generated)["GeneratedTime"] == generated


def test_parse_rejects_bad_boolean():
    line = USER_LINE.replace(",true,no_information,", ",yes,no_information,")
    with pytest.raises(CredentialReportError) as raised:
        parse_credential_report(f"{HEADER}\n{line}\n", None)
    assert raised.value.code == "MalformedCredentialReport"
    assert "password_enabled" in str(raised.value)


def test_parse_rejects_bad_date():
    line = USER_LINE.replace("2025-06-01T08:05:00+00:00", "last tuesday")
    with pytest.raises(CredentialReportError, match="access_key_1_last_rotated"):
        parse_credential_report(f"{HEADER}\n{line}\n", None)


def test_parse_rejects_short_line():
    with pytest.raises(CredentialReportError, match="number of fields"):
        parse_credential_report(f"{HEADER}\nalice,arn:aws:iam::{ACCOUNT}:user/alice\n", None)


# Polling for the report.
class FakeIam:
    """Returns the given GenerateCredentialReport states in turn, then the last one forever."""

    def __init__(self, states: list[str], get_errors: list[str] = ()) -> None:
        self.states = list(states)
        self.get_errors = list(get_errors)
        self.generate_calls = 0

    def generate_credential_report(self):
        self.generate_calls += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"State": state}

    def get_credential_report(self):
        if self.get_errors:
            code = self.get_errors.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, "GetCredentialReport")
        return {"Content": f"{HEADER}\n".encode(), "GeneratedTime": None}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


def test_fetch_polls_until_complete():
    clock = FakeClock()
    iam = FakeIam(["STARTED", "INPROGRESS", "INPROGRESS", "COMPLETE"])
    response = fetch_credential_report(iam, wait_seconds=60, sleep=clock.sleep, clock=clock.time)
    assert response["Content"].startswith(b"user,arn")
    assert clock.sleeps == [0.0, 1.0, 2.0]


def test_fetch_gives_up_after_wait():
    clock = FakeClock()
    iam = FakeIam(["INPROGRESS"])
    with pytest.raises(CredentialReportError) as raised:
        fetch_credential_report(iam, wait_seconds=20, sleep=clock.sleep, clock=clock.time)
    assert raised.value.code == "CredentialReportTimeout"
    assert clock.now == 20


def test_fetch_backoff_is_capped():
    clock = FakeClock()
    with pytest.raises(CredentialReportError):
        fetch_credential_report(FakeIam(["INPROGRESS"]), wait_seconds=60, sleep=clock.sleep, clock=clock.time)
    assert max(clock.sleeps) == 8.0


def test_fetch_retries_report_in_progress():
    clock = FakeClock()
    iam = FakeIam(["COMPLETE"], get_errors=["ReportInProgress"])
    fetch_credential_report(iam, wait_seconds=60, sleep=clock.sleep, clock=clock.time)
    assert iam.generate_calls == 2


def test_fetch_raises_other_errors():
    clock = FakeClock()
    iam = FakeIam(["COMPLETE"], get_errors=["AccessDenied"])
    with pytest.raises(ClientError):
        fetch_credential_report(iam, wait_seconds=60, sleep=clock.sleep, clock=clock.time)


# The IAM collector against moto.
@pytest.fixture
def session(mock_aws_env):
    return aws_account.session(ACCOUNT)


@pytest.fixture
def iam(session):
    return session.client("iam", region_name=REGION)


def collect_global(session) -> Inventory:
    inventory = Inventory(region=GLOBAL_REGION)
    collect_iam(ClientFactory(session), inventory, account_id=ACCOUNT)
    return inventory


def test_collect_report_users(iam, session):
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    inventory = collect_global(session)
    report = inventory.get("iam.credential_report")
    assert sorted(row["user"] for row in report["users"]) == ["alice", "bob"]
    assert inventory.listed["iam.credential_report"] == 2


def test_collect_report_generated_time(iam, session):
    report = collect_global(session).get("iam.credential_report")
    assert isinstance(report["GeneratedTime"], dt.datetime)


def test_collect_report_denied_is_read_error(iam, session, aws_fakes):
    aws_fakes.deny("iam", "GenerateCredentialReport")
    error = collect_global(session).items["iam.credential_report"]
    assert isinstance(error, ReadError)
    assert error.code == "AccessDenied"


def test_collect_report_timeout_is_read_error(iam, session, aws_fakes, settings, monkeypatch):
    settings.AWS_CREDENTIAL_REPORT_WAIT = 1
    monkeypatch.setattr("posture.aws.collectors.iam.time.sleep", lambda seconds: None)
    aws_fakes.add("iam", "GenerateCredentialReport", lambda params: {"State": "INPROGRESS"})
    error = collect_global(session).items["iam.credential_report"]
    assert error.code == "CredentialReportTimeout"


def test_collect_no_password_policy_is_none(iam, session):
    assert collect_global(session).get("iam.password_policy") is None


def test_collect_password_policy(iam, session):
    iam.update_account_password_policy(MinimumPasswordLength=16)
    assert collect_global(session).get("iam.password_policy")["MinimumPasswordLength"] == 16


def test_collect_users_groups_and_ssh_keys(iam, session):
    iam.create_user(UserName="alice")
    iam.create_group(GroupName="ops")
    iam.add_user_to_group(GroupName="ops", UserName="alice")
    iam.upload_ssh_public_key(UserName="alice", SSHPublicKeyBody="ssh-rsa AAAAB3NzaC1yc2E alice")
    inventory = collect_global(session)
    user = inventory.get("iam.users")[0]
    assert user["GroupList"] == ["ops"]
    assert len(user["SSHPublicKeys"]) == 1
    assert inventory.get("iam.groups")[0]["GroupName"] == "ops"


def test_collect_ssh_listing_failure_per_user(iam, session, aws_fakes):
    iam.create_user(UserName="alice")
    aws_fakes.deny("iam", "ListSSHPublicKeys")
    user = collect_global(session).get("iam.users")[0]
    assert isinstance(user["SSHPublicKeys"], ReadError)


def test_collect_virtual_mfa_without_seed(iam, session):
    iam.create_user(UserName="alice")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(
        UserName="alice", SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    device = collect_global(session).get("iam.virtual_mfa_devices")[0]
    assert device["SerialNumber"] == serial
    assert "Base32StringSeed" not in device
    assert "QRCodePNG" not in device


def test_collect_requests_per_user_only_ssh_keys(iam, session):
    for name in ("alice", "bob", "carol"):
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
    clients = ClientFactory(session)
    operations: Counter[str] = Counter()
    ssh_users: list[str] = []

    def count(model, params, **kwargs):
        operations[model.name] += 1
        if model.name == "ListSSHPublicKeys":
            ssh_users.append(params.get("UserName"))

    # before-parameter-build receives the API parameters (UserName) before serialization.
    clients.client("iam", REGION).meta.events.register("before-parameter-build.iam", count)
    collect_iam(clients, Inventory(region=GLOBAL_REGION), account_id=ACCOUNT)
    assert operations["ListAccessKeys"] == 0
    assert operations["GetAccountAuthorizationDetails"] == 1
    assert sorted(ssh_users) == ["alice", "bob", "carol"]


# The EC2 key-pair collector.
def test_collect_key_pairs_and_references(session):
    ec2 = session.client("ec2", region_name=REGION)
    ec2.create_key_pair(KeyName="ops")
    running = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName="ops")
    gone = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, KeyName="old")
    ec2.terminate_instances(InstanceIds=[gone["Instances"][0]["InstanceId"]])
    inventory = Inventory(region=REGION)
    collect_ec2_keys(ClientFactory(session), inventory, account_id=ACCOUNT)
    assert [pair["KeyName"] for pair in inventory.get("ec2.key_pairs")] == ["ops"]
    assert inventory.get("ec2.key_pair_instances") == {"ops": [running["Instances"][0]["InstanceId"]]}


def test_collect_users_keep_tags(iam, session):
    iam.create_user(UserName="alice", Tags=[{"Key": "team", "Value": "ops"}])
    user = collect_global(session).get("iam.users")[0]
    assert user["Tags"] == [{"Key": "team", "Value": "ops"}]
