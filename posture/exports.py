"""CSV and JSON exports of findings, produced as a stream of text chunks.

Rows arrive from a database iterator a chunk at a time and each chunk of text is handed to the
response before the next rows are read, so memory stays flat however many findings match.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from posture.selectors.findings import EXPORT_FIELDS

COLUMNS = (
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
# Records serialised per chunk of the response: large enough to keep per-chunk overhead small.
RECORDS_PER_CHUNK = 500
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection), and resource
# ids such as IAM user names may start with "=", "+", "-" or "@".
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def export_filename(extension: str, *, now: dt.datetime) -> str:
    return f"findings-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{extension}"


def finding_url_maker(request: HttpRequest) -> Callable[[int], str]:
    """Return a function from a finding's primary key to the absolute URL of its page.

    The URL is split once around a placeholder key, because calling reverse() for every row would
    dominate the time of a large export.
    """
    placeholder = "987654321"
    prefix, _, suffix = reverse("posture:finding-detail", args=[placeholder]).partition(placeholder)
    base = request.build_absolute_uri(prefix)
    return lambda pk: f"{base}{pk}{suffix}"


def finding_records(
    rows: Iterable[tuple],
    *,
    check_titles: Mapping[str, str],
    finding_url: Callable[[int], str],
) -> Iterator[tuple]:
    """Turn rows of EXPORT_FIELDS into records of COLUMNS: titles from the registry, ISO 8601 times."""
    for values in rows:
        row = dict(zip(EXPORT_FIELDS, values, strict=True))
        yield (
            row["account__account_id"],
            row["account__name"],
            row["account__environment"],
            row["region"],
            row["check_id"],
            # A check removed from the registry since the finding was stored has no title.
            check_titles.get(row["check_id"], ""),
            row["area"],
            row["severity"],
            row["status"],
            row["triage_state"],
            row["assignee__username"] or "",
            # The exception that covers the finding now, as text like every other cell ("" for none).
            str(row["exception_id"] or ""),
            row["resource_type"],
            row["resource_id"],
            row["reason"],
            row["first_seen_at"].isoformat(),
            row["last_seen_at"].isoformat(),
            finding_url(row["id"]),
        )


class _LineBuffer:
    """A file-like target for csv.writer whose write() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(records: Iterable[tuple]) -> Iterator[str]:
    """Yield a header line, then the records as CSV lines, a chunk at a time.

    Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    writer = csv.writer(_LineBuffer())
    yield writer.writerow(COLUMNS)
    for batch in _batches(records):
        yield "".join(writer.writerow([_spreadsheet_safe(value) for value in record]) for record in batch)


def json_chunks(records: Iterable[tuple]) -> Iterator[str]:
    """Yield one JSON array of objects keyed by COLUMNS, a chunk of objects at a time."""
    yield "["
    separator = "\n"
    for batch in _batches(records):
        objects = (
            json.dumps(dict(zip(COLUMNS, record, strict=True)), ensure_ascii=False) for record in batch
        )
        yield separator + ",\n".join(objects)
        separator = ",\n"
    yield "\n]\n"


def _batches(records: Iterable[tuple]) -> Iterator[list[tuple]]:
    iterator = iter(records)
    while batch := list(islice(iterator, RECORDS_PER_CHUNK)):
        yield batch


def _spreadsheet_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
