"""Filters that format scores, coverage, evidence and history the same way on every page."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from django import template

from posture.checks.base import Status
from posture.models import Finding, FindingEvent

register = template.Library()

# Score bands set the colour only. Templates show the number beside it.
GOOD_FROM = 90.0
FAIR_FROM = 70.0


@register.filter
def score(value: float | None) -> str:
    """Format a 0-100 score with one decimal, or "n/a" when nothing was judged."""
    return "n/a" if value is None else f"{value:.1f}"


@register.filter
def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


@register.filter
def score_band(value: float | None) -> str:
    """Return the CSS modifier of a score: good, fair, poor, or none when there is no score."""
    if value is None:
        return "none"
    if value >= GOOD_FROM:
        return "good"
    if value >= FAIR_FROM:
        return "fair"
    return "poor"


@register.filter
def signed(value: float | None) -> str:
    """Format a change in points with its sign ("+2.5", "-1.0"), or "" when there is none."""
    if value is None:
        return ""
    if round(value, 1) == 0:
        return "0.0"  # not "-0.0" for a tiny drop
    return f"{value:+.1f}"


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def get_item(mapping: dict, key):
    """Look up `key` in a dict, for keys that are not valid template variable names (numbers)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def exception_state(exception) -> str:
    """Return the state label of an exception: "Disabled" when switched off, else its review state."""
    return "Disabled" if not exception.enabled else exception.get_state_display()


# History of a finding: the stored events keep field names and raw values, and people read labels.
@dataclass(frozen=True)
class ChangedValue:
    """One side of a change as shown: its text, and the exception to link when it names one."""

    text: str
    exception_pk: int | None = None


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: ChangedValue
    new: ChangedValue


FIELD_LABELS = {
    "triage_state": "Triage state",
    "assignee": "Assignee",
    "status": "Status",
    "exception": "Exception",
}
# Text shown for an empty value, by field.
EMPTY_VALUES = {"assignee": "unassigned", "status": "—"}


@register.filter
def event_title(event: FindingEvent) -> str:
    """Return the event's kind as people read it: a finding first seen passing was not "opened"."""
    if event.kind == FindingEvent.Kind.OPENED and event.new_status in (Status.PASS, Status.NOT_APPLICABLE):
        return "First seen"
    return event.get_kind_display()


@register.filter
def event_change(event: FindingEvent, linked_exceptions: Collection[int] | None = None) -> FieldChange | None:
    """Return the labelled change of an event's field, or None for an event without a field.

    An exception id becomes "exception 4", linked when `linked_exceptions` contains it, so a
    caller that leaves out deleted exceptions gets no link to a missing page.
    """
    if not event.field:
        return None
    label = FIELD_LABELS.get(event.field, event.field.replace("_", " ").capitalize())
    return FieldChange(
        label=label,
        old=_changed_value(event.field, event.old_value, linked_exceptions or ()),
        new=_changed_value(event.field, event.new_value, linked_exceptions or ()),
    )


def _changed_value(field: str, value: str, linked_exceptions: Collection[int]) -> ChangedValue:
    if not value:
        return ChangedValue(EMPTY_VALUES.get(field, "none"))
    if field == "triage_state":
        return ChangedValue(_label(Finding.TriageState, value))
    if field == "status":
        return ChangedValue(_label(Status, value))
    if field == "exception" and value.isdigit():
        pk = int(value)
        return ChangedValue(f"exception {pk}", pk if pk in linked_exceptions else None)
    return ChangedValue(value)


def _label(choices, value: str) -> str:
    """Return the label of a choice, or the stored value itself when it is no longer a choice."""
    return choices(value).label if value in choices.values else value
