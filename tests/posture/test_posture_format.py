from __future__ import annotations

import pytest

from posture.models import FindingEvent
from posture.templatetags import posture_format
from triage.models import FindingException


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), (2.46, "+2.5"), (-1.0, "-1.0"), (-0.04, "0.0"), (0.0, "0.0")],
)
def test_signed_formats_change(value, expected):
    assert posture_format.signed(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "none"), (95.0, "good"), (90.0, "good"), (75.0, "fair"), (69.9, "poor")],
)
def test_score_band_thresholds(value, expected):
    assert posture_format.score_band(value) == expected


def test_score_none_is_not_available():
    assert posture_format.score(None) == "n/a"


def test_pretty_json_sorted_and_indented():
    assert posture_format.pretty_json({"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'


def event(field: str, old: str = "", new: str = "") -> FindingEvent:
    return FindingEvent(kind=FindingEvent.Kind.STATE_CHANGED, field=field, old_value=old, new_value=new)


def shown(change: posture_format.FieldChange) -> str:
    return f"{change.label}: {change.old.text} → {change.new.text}"


@pytest.mark.parametrize(
    ("field", "old", "new", "expected"),
    [
        ("triage_state", "open", "in_progress", "Triage state: Open → In progress"),
        ("assignee", "", "analyst", "Assignee: unassigned → analyst"),
        ("assignee", "analyst", "", "Assignee: analyst → unassigned"),
        ("status", "", "FAIL", "Status: — → Fail"),
        ("status", "FAIL", "NOT_APPLICABLE", "Status: Fail → Not applicable"),
        ("exception", "", "4", "Exception: none → exception 4"),
        ("exception", "4", "", "Exception: exception 4 → none"),
        ("triage_state", "retired_state", "open", "Triage state: retired_state → Open"),
        ("new_field", "a", "", "New field: a → none"),
    ],
)
def test_event_change_labels(field, old, new, expected):
    assert shown(posture_format.event_change(event(field, old, new))) == expected


def test_event_change_without_field_is_none():
    assert posture_format.event_change(event("")) is None


def test_event_change_links_existing_exception():
    change = posture_format.event_change(event("exception", "3", "4"), {4})
    assert change.new.exception_pk == 4
    assert change.old.exception_pk is None


@pytest.mark.parametrize(
    ("state", "enabled", "expected"),
    [
        (FindingException.State.PROPOSED, True, "Proposed"),
        (FindingException.State.REJECTED, True, "Rejected"),
        (FindingException.State.APPROVED, False, "Disabled"),
    ],
)
def test_exception_state_label(state, enabled, expected):
    assert posture_format.exception_state(FindingException(state=state, enabled=enabled)) == expected


@pytest.mark.parametrize(
    ("new_status", "title"), [("PASS", "First seen"), ("NOT_APPLICABLE", "First seen"), ("FAIL", "Opened")]
)
def test_event_title_opened_by_status(new_status, title):
    event = FindingEvent(kind=FindingEvent.Kind.OPENED, new_status=new_status)
    assert posture_format.event_title(event) == title
