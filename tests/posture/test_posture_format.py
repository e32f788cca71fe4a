from __future__ import annotations

import pytest

from posture.templatetags import posture_format


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
