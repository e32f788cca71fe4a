from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.test import RequestFactory

from posture import exports
from posture.exports import COLUMNS, RECORDS_PER_CHUNK
from posture.selectors.findings import EXPORT_FIELDS

WHEN = dt.datetime(2025, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def record(n: int = 1, **overrides) -> tuple:
    values = {
        "account_id": "123456789012",
        "account_name": "prod",
        "environment": "production",
        "region": "us-east-1",
        "check_id": "ec2_volume_encrypted",
        "check_title": "EBS volumes are encrypted",
        "area": "configuration",
        "severity": "high",
        "status": "FAIL",
        "triage_state": "open",
        "assignee": "",
        "exception_id": "",
        "resource_type": "volume",
        "resource_id": f"vol-{n:04d}",
        "reason": "The volume is not encrypted, so a snapshot leaks its data.",
        "first_seen_at": "2025-01-01T00:00:00+00:00",
        "last_seen_at": "2025-01-02T00:00:00+00:00",
        "url": f"http://testserver/findings/{n}/",
    }
    values.update(overrides)
    return tuple(values[column] for column in COLUMNS)


def parse_csv(chunks) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(chunks))))


def test_columns_as_documented():
    assert COLUMNS == (
        "account_id",
        "account_name",
        "environment",
        "region",
        "check_id",
        "check_title",
        "area",
        "severity",
        "status",
        "triage_state",
        "assignee",
        "exception_id",
        "resource_type",
        "resource_id",
        "reason",
        "first_seen_at",
        "last_seen_at",
        "url",
    )


def test_csv_header_then_rows():
    rows = parse_csv(exports.csv_chunks([record(1), record(2)]))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == [list(record(1)), list(record(2))]


def test_csv_quotes_commas_quotes_and_newlines():
    tricky = record(reason='Says "no", then\nstops, twice.', account_name="ops, eu")
    assert parse_csv(exports.csv_chunks([tricky]))[1] == list(tricky)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t"])
def test_csv_neutralises_formula_cells(prefix):
    rows = parse_csv(exports.csv_chunks([record(resource_id=f"{prefix}HYPERLINK(1)")]))
    assert rows[1][COLUMNS.index("resource_id")] == f"'{prefix}HYPERLINK(1)"


def test_csv_empty_export_has_header_only():
    assert parse_csv(exports.csv_chunks([])) == [list(COLUMNS)]


def test_csv_chunks_hold_many_records_each():
    chunks = list(exports.csv_chunks(record(n) for n in range(RECORDS_PER_CHUNK * 2 + 1)))
    # The header, two full chunks and one chunk with the last record.
    assert len(chunks) == 4


def test_json_is_one_array_of_objects():
    parsed = json.loads("".join(exports.json_chunks([record(1), record(2)])))
    assert parsed == [dict(zip(COLUMNS, record(1), strict=True)), dict(zip(COLUMNS, record(2), strict=True))]


def test_json_empty_export_is_empty_array():
    assert json.loads("".join(exports.json_chunks([]))) == []


def test_json_across_chunks_stays_valid():
    records = [record(n) for n in range(RECORDS_PER_CHUNK + 3)]
    parsed = json.loads("".join(exports.json_chunks(iter(records))))
    assert [item["resource_id"] for item in parsed] == [r[COLUMNS.index("resource_id")] for r in records]


def test_json_keeps_values_verbatim():
    odd = record(resource_id="=cmd|' /C calc'!A0", reason="Ünïcode ✓")
    (parsed,) = json.loads("".join(exports.json_chunks([odd])))
    assert parsed["resource_id"] == "=cmd|' /C calc'!A0"
    assert parsed["reason"] == "Ünïcode ✓"


def test_chunks_are_generated_lazily():
    def records():
        yield record(1)
        raise AssertionError("read past the first chunk")

    chunks = exports.json_chunks(records())
    assert next(chunks) == "["


def test_export_filename_has_utc_timestamp():
    assert exports.export_filename("csv", now=WHEN) == "findings-20250304T050607Z.csv"


def test_export_filename_converts_to_utc():
    later = WHEN.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert exports.export_filename("json", now=later) == "findings-20250304T050607Z.json"


def test_finding_url_maker_builds_absolute_detail_url():
    request = RequestFactory().get("/findings/export.csv")
    finding_url = exports.finding_url_maker(request)
    assert finding_url(42) == "http://testserver/findings/42/"
    assert finding_url(987654321) == "http://testserver/findings/987654321/"


def test_finding_records_map_fields_to_columns():
    values = {
        "id": 7,
        "account__account_id": "123456789012",
        "account__name": "prod",
        "account__environment": "",
        "region": "global",
        "check_id": "iam_root_mfa",
        "area": "authentication",
        "severity": "critical",
        "status": "FAIL",
        "triage_state": "in_progress",
        "assignee__username": "alice",
        "exception_id": None,
        "resource_type": "account",
        "resource_id": "arn:aws:iam::123456789012:root",
        "reason": "No MFA.",
        "first_seen_at": WHEN,
        "last_seen_at": WHEN + dt.timedelta(days=1),
    }
    row = tuple(values[field] for field in EXPORT_FIELDS)
    (result,) = exports.finding_records(
        [row], check_titles={"iam_root_mfa": "Root user has MFA"}, finding_url=lambda pk: f"/f/{pk}"
    )
    assert dict(zip(COLUMNS, result, strict=True)) == {
        "account_id": "123456789012",
        "account_name": "prod",
        "environment": "",
        "region": "global",
        "check_id": "iam_root_mfa",
        "check_title": "Root user has MFA",
        "area": "authentication",
        "severity": "critical",
        "status": "FAIL",
        "triage_state": "in_progress",
        "assignee": "alice",
        "exception_id": "",
        "resource_type": "account",
        "resource_id": "arn:aws:iam::123456789012:root",
        "reason": "No MFA.",
        "first_seen_at": "2025-03-04T05:06:07+00:00",
        "last_seen_at": "2025-03-05T05:06:07+00:00",
        "url": "/f/7",
    }


def test_finding_records_unknown_check_has_empty_title():
    values = dict.fromkeys(EXPORT_FIELDS, "x")
    values.update(id=1, check_id="removed_check", first_seen_at=WHEN, last_seen_at=WHEN)
    row = tuple(values[field] for field in EXPORT_FIELDS)
    (result,) = exports.finding_records([row], check_titles={}, finding_url=str)
    assert result[COLUMNS.index("check_title")] == ""
