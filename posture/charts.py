"""Charts of the overview: the plotly score trend and server-side SVG sparklines.

A plotly figure leaves here as a plain dict in plotly's JSON form ({"data": [...], "layout": {...}}),
which the template embeds with `json_script` and static/js/app.js draws, so pages need no inline
script. The dict is written directly, because building it through plotly.graph_objects added about
0.4 s to the overview with a year of daily scans (cProfile, 2-core development machine). Tests
check the dict against plotly's schema instead. Sparklines are plain SVG coordinates that the
template writes as elements, so they need no script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from posture.checks.base import Area
from posture.scores import is_incomplete
from posture.selectors.overview import TrendPoint

OVERALL_COLOR = "#1f2937"
AREA_COLORS = {
    Area.MONITORING: "#2563eb",
    Area.AUTHENTICATION: "#7c3aed",
    Area.CONFIGURATION: "#0d9488",
    Area.INACTIVE: "#d97706",
    Area.ACCESS: "#dc2626",
}
RULESET_COLOR = "#6b7280"
GRID_COLOR = "#e5e7eb"
# Above this many scans, markers of complete scans would merge into a band, so only incomplete
# scans keep theirs and the lines carry the rest.
MAX_SCANS_WITH_MARKERS = 90
INCOMPLETE_MARKER_SIZE = 9
# Buttons above the trend: (label, days), then "All".
RANGE_BUTTONS_DAYS = (("7d", 7), ("30d", 30), ("90d", 90), ("365d", 365))

Figure = dict[str, Any]


def _plotly_time(value: dt.datetime) -> str:
    # plotly.js reads date strings without a UTC offset, so times are sent as naive UTC.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _rounded(values: Sequence[float | None]) -> list[float | None]:
    # Two decimals are finer than the chart shows and keep a year of scans' JSON small.
    return [None if v is None else round(v, 2) for v in values]


def _coverage_label(coverage: float | None) -> str:
    if coverage is None:
        return "incomplete: no coverage"
    if is_incomplete(coverage):
        return f"incomplete: coverage {coverage:.0f} %"
    return f"coverage {coverage:.0f} %"


def _markers(coverages: Sequence[float | None], *, color: str, size: int) -> dict[str, Any]:
    """Return plotly marker settings: a filled circle per complete scan, a hollow one per incomplete scan."""
    complete_size = size if len(coverages) <= MAX_SCANS_WITH_MARKERS else 0
    return {
        "symbol": ["circle-open" if is_incomplete(c) else "circle" for c in coverages],
        "size": [INCOMPLETE_MARKER_SIZE if is_incomplete(c) else complete_size for c in coverages],
        "color": color,
        # A hollow marker is only its outline, so the outline must be wide enough to see.
        "line": {"color": color, "width": 2},
    }


def _score_trace(
    *,
    x: list[str],
    y: list[float | None],
    coverages: list[float | None],
    name: str,
    color: str,
    width: float,
    marker_size: int,
    legend_rank: int,
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "x": x,
        "y": _rounded(y),
        "text": [_coverage_label(c) for c in coverages],
        "name": name,
        "mode": "lines+markers",
        "line": {"color": color, "width": width},
        "marker": _markers(coverages, color=color, size=marker_size),
        "hovertemplate": "%{y:.1f} (%{text})<extra>%{fullData.name}</extra>",
        "legendrank": legend_rank,
    }


def _raw_trace(x: list[str], points: Sequence[TrendPoint]) -> dict[str, Any]:
    """Return the overall raw score (every FAIL counted), dashed.

    The raw line starts hidden (shown by a click on its legend entry) while it equals the
    headline line at every point, because it would only hide that line.
    """
    raw = [p.scores.raw_overall for p in points]
    headline = [p.scores.overall for p in points]
    return {
        "type": "scatter",
        "x": x,
        "y": _rounded(raw),
        "name": "Overall (raw)",
        "mode": "lines",
        "line": {"color": OVERALL_COLOR, "width": 2, "dash": "dash"},
        "visible": True if raw != headline else "legendonly",
        "hovertemplate": "%{y:.1f}<extra>%{fullData.name}</extra>",
        "legendrank": 2,
    }


def _ruleset_marks(points: Sequence[TrendPoint]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return a dotted vertical line, and its label, at each scan whose ruleset differs from the scan before.

    Scores on the two sides of the line are not strictly comparable, because checks, weights or
    thresholds changed.
    """
    shapes = []
    annotations = []
    for previous, point in zip(points, points[1:], strict=False):
        if point.ruleset_version == previous.ruleset_version:
            continue
        when = _plotly_time(point.scanned_at)
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": when,
                "x1": when,
                "y0": 0,
                "y1": 1,
                "line": {"color": RULESET_COLOR, "dash": "dot", "width": 1},
            }
        )
        annotations.append(
            {
                "x": when,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": "ruleset changed",
                "hovertext": f"Ruleset {previous.ruleset_version} → {point.ruleset_version}",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"size": 10, "color": RULESET_COLOR},
            }
        )
    return shapes, annotations


def _time_clip(points: Sequence[TrendPoint]) -> dict[str, str]:
    """Return autorange limits a little beyond the first and last scan.

    plotly.js pads the autorange of an axis for the size of the markers. A hollow marker made
    that padding weeks wide on a year of scans, and the range buttons count back from the end of
    the axis, so "7d" showed mostly empty days.
    """
    if not points:
        return {}
    first, last = points[0].scanned_at, points[-1].scanned_at
    margin = max((last - first) / 400, dt.timedelta(hours=6))
    return {"clipmin": _plotly_time(first - margin), "clipmax": _plotly_time(last + margin)}


def _trend_layout(points: Sequence[TrendPoint]) -> dict[str, Any]:
    shapes, annotations = _ruleset_marks(points)
    xaxis: dict[str, Any] = {
        "type": "date",
        "gridcolor": GRID_COLOR,
        "rangeselector": {
            "buttons": [
                {"count": days, "label": label, "step": "day", "stepmode": "backward"}
                for label, days in RANGE_BUTTONS_DAYS
            ]
            + [{"step": "all", "label": "All"}],
            "x": 0,
            "y": 1.02,
            "yanchor": "bottom",
        },
    }
    clip = _time_clip(points)
    if clip:
        xaxis["autorangeoptions"] = clip
    layout: dict[str, Any] = {
        "height": 380,
        "margin": {"l": 48, "r": 16, "t": 40, "b": 40},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"color": "#1f2937"},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.15},
        "xaxis": xaxis,
        "yaxis": {
            "title": {"text": "Score"},
            "range": [0, 100.5],
            "fixedrange": True,
            "gridcolor": GRID_COLOR,
            "zeroline": False,
        },
    }
    if shapes:
        layout["shapes"] = shapes
        layout["annotations"] = annotations
    return layout


def score_trend_figure(points: Sequence[TrendPoint]) -> Figure:
    """Build the score trend: the overall score, its raw score and one line per area, x = scan time.

    Hovering shows each score with its coverage. A point of a scan whose coverage is under
    posture.scores.COMPLETE_COVERAGE is hollow and its hover text starts with "incomplete". Buttons
    above the chart select the last 7, 30, 90 or 365 days, or all scans.
    """
    x = [_plotly_time(p.scanned_at) for p in points]
    data = [
        _score_trace(
            x=x,
            y=[p.score_of(area.value) for p in points],
            coverages=[p.coverage_of(area.value) for p in points],
            name=area.label,
            color=AREA_COLORS[area],
            width=1.5,
            marker_size=6,
            legend_rank=rank,
        )
        for rank, area in enumerate(Area, start=10)
    ]
    # The overall lines come last so they are drawn on top; legendrank lists them first.
    data.append(_raw_trace(x, points))
    data.append(
        _score_trace(
            x=x,
            y=[p.scores.overall for p in points],
            coverages=[p.scores.coverage for p in points],
            name="Overall",
            color=OVERALL_COLOR,
            width=3,
            marker_size=8,
            legend_rank=1,
        )
    )
    return {"data": data, "layout": _trend_layout(points)}


# Sparklines.
SPARK_WIDTH = 120
SPARK_HEIGHT = 32
SPARK_PAD = 2.5


@dataclass(frozen=True)
class Sparkline:
    """An inline SVG line of 0-100 scores on a fixed scale, so rows compare at a glance.

    `lines` contains the `points` attribute of each polyline, and a None score breaks the line.
    `dots` contains single scores with no neighbour, and `end` the latest score, which gets a dot.
    """

    width: int
    height: int
    lines: list[str] = field(default_factory=list)
    dots: list[tuple[float, float]] = field(default_factory=list)
    end: tuple[float, float] | None = None
    first: float | None = None
    last: float | None = None
    count: int = 0

    @property
    def change(self) -> float | None:
        """Return the last score minus the first one, in points, or None with fewer than two."""
        if self.first is None or self.last is None or self.count < 2:
            return None
        return self.last - self.first


def sparkline(
    values: Sequence[float | None], *, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT
) -> Sparkline:
    """Lay out `values` (oldest first, 0-100 or None) as SVG coordinates in a width x height box."""
    step = (width - 2 * SPARK_PAD) / (len(values) - 1) if len(values) > 1 else 0.0

    def position(index: int, value: float) -> tuple[float, float]:
        x = SPARK_PAD + index * step if len(values) > 1 else width / 2
        y = SPARK_PAD + (100.0 - max(0.0, min(100.0, value))) / 100.0 * (height - 2 * SPARK_PAD)
        return round(x, 1), round(y, 1)

    runs: list[list[tuple[float, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(position(index, value))
    present = [(index, value) for index, value in enumerate(values) if value is not None]
    return Sparkline(
        width=width,
        height=height,
        lines=[" ".join(f"{x},{y}" for x, y in run) for run in runs if len(run) > 1],
        dots=[run[0] for run in runs if len(run) == 1],
        end=position(*present[-1]) if present else None,
        first=present[0][1] if present else None,
        last=present[-1][1] if present else None,
        count=len(present),
    )
