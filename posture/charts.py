"""Plotly figures, built in Python and drawn in the browser by static/js/app.js.

A figure leaves here as a plain dict (plotly's JSON form), which the template embeds with
`json_script`, so pages need no inline script.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from posture.checks.base import Area
from posture.selectors.overview import TrendPoint

OVERALL_COLOR = "#1f2937"
AREA_COLORS = {
    Area.MONITORING: "#2563eb",
    Area.AUTHENTICATION: "#7c3aed",
    Area.CONFIGURATION: "#0d9488",
    Area.INACTIVE: "#d97706",
    Area.ACCESS: "#dc2626",
}


def _plotly_time(value: dt.datetime) -> str:
    # plotly.js reads date strings without a UTC offset, so times are sent as naive UTC.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def score_trend_figure(points: Sequence[TrendPoint]) -> dict[str, Any]:
    """Build the score trend: one line for the overall score and one per area, x = scan time.

    Hovering shows each score with its coverage. A dotted vertical line marks each scan whose
    ruleset version (checks, weights, thresholds) differs from the scan before it, because scores
    on the two sides are not strictly comparable.
    """
    x = [_plotly_time(p.scanned_at) for p in points]
    hover = "%{y:.1f} (coverage %{customdata:.0f}%)<extra>%{fullData.name}</extra>"
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[p.scores.overall for p in points],
            customdata=[p.scores.coverage for p in points],
            name="Overall",
            mode="lines+markers",
            line={"color": OVERALL_COLOR, "width": 3},
            hovertemplate=hover,
        )
    )
    for area in Area:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[p.score_of(area.value) for p in points],
                customdata=[p.coverage_of(area.value) for p in points],
                name=area.label,
                mode="lines+markers",
                line={"color": AREA_COLORS[area], "width": 1.5},
                marker={"size": 5},
                hovertemplate=hover,
            )
        )

    for previous, point in zip(points, points[1:], strict=False):
        if point.ruleset_version != previous.ruleset_version:
            figure.add_shape(
                type="line",
                xref="x",
                yref="paper",
                x0=_plotly_time(point.scanned_at),
                x1=_plotly_time(point.scanned_at),
                y0=0,
                y1=1,
                line={"color": "#6b7280", "dash": "dot", "width": 1},
            )
            figure.add_annotation(
                x=_plotly_time(point.scanned_at),
                y=1,
                xref="x",
                yref="paper",
                text="ruleset changed",
                showarrow=False,
                yanchor="bottom",
                font={"size": 10, "color": "#6b7280"},
            )

    figure.update_layout(
        template="plotly_white",
        height=360,
        margin={"l": 48, "r": 16, "t": 24, "b": 40},
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        yaxis={"title": {"text": "Score"}, "range": [0, 100.5], "fixedrange": True},
    )
    # Through plotly's own encoder, so the result holds only JSON types for json_script.
    return json.loads(figure.to_json())
