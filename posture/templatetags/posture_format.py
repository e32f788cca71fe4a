"""Filters that format scores, coverage and evidence the same way on every page."""

from __future__ import annotations

import json

from django import template

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
